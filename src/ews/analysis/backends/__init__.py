"""Where the runs of a sweep or study train: this machine (`local`), a Ray cluster (`ray`) or SLURM (`slurm`).

`options` says what the user asked for and checks it, `resolver` opens the chosen backend
(connecting to the cluster and checking that a run fits there), `local`, `ray_tasks` and
`slurm_jobs` run the runs, `worker` is what wraps each run on a cluster worker (its thread
count, its folder, its log) and `failures` reports the runs that failed. Every backend gives
a run the same thread count, so a study's numbers do not depend on where it ran.
"""

from .options import BackendOptions, backend_options
from .resolver import Backend, open_backend

__all__ = ["Backend", "BackendOptions", "backend_options", "open_backend"]
