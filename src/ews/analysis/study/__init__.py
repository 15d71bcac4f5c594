"""Studies: named variants x seeds, trained and scored alike, summarised with intervals (`ews sweep --study`).

`spec` reads a study file, `runner` trains many runs in worker processes, `scoring`
scores one run, `stats` gives means, intervals and paired differences, `results`
builds `study.json`, `report` renders it and `plan` ties them together.
"""

from .plan import plan_study, run_study
from .spec import StudySpec, build_spec, read_spec

__all__ = ["StudySpec", "build_spec", "plan_study", "read_spec", "run_study"]
