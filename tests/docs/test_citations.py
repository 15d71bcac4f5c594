"""A dataset is cited with one year everywhere: in the docs and in what `ews` prints."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Recht et al.: CIFAR-10.1 is "Do CIFAR-10 Classifiers Generalize to CIFAR-10?" (arXiv 2018); ImageNet-V2 is
# "Do ImageNet Classifiers Generalize to ImageNet?" (ICML 2019).
YEARS = {"cifar10.1": "2018", "imagenet-v2": "2019"}
DATASET = re.compile(r"CIFAR-10\.1|cifar10\.1|ImageNet-V2|imagenet-v2", re.IGNORECASE)


def test_recht_et_al_has_the_year_of_the_dataset_it_cites() -> None:
    """Each `Recht et al. YEAR` cites the dataset named last before it (within 300 characters: a string or a table
    row split over lines), in the docs, the README and the source (its printed conventions)."""
    files = [*ROOT.glob("docs/**/*.md"), ROOT / "README.md", *ROOT.glob("src/ews/**/*.py")]
    cited = []
    for path in files:
        text = path.read_text()
        for citation in re.finditer(r"Recht et al\.,? (\d{4})", text):
            named = DATASET.findall(text[max(0, citation.start() - 300):citation.start()])
            if named:
                dataset = named[-1].lower().replace("cifar-10.1", "cifar10.1")
                cited.append((path.name, dataset))
                assert citation.group(1) == YEARS[dataset], f"{path}: {dataset} cited as {citation.group(0)}"
    assert {("eval.md", "cifar10.1"), ("cifar.py", "cifar10.1"), ("imagenet.py", "imagenet-v2")} <= set(cited)
