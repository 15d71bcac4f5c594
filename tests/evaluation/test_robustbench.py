"""`robustbench.json`: clean and robust accuracy on the same images, as RobustBench's benchmark scores them."""

from __future__ import annotations

from ews.evaluation import robustbench_entry

RESULT = {"method": "ews", "model": "resnet20", "dataset": "cifar10", "checkpoint": "c.pt", "split": "test",
          "clean_error": 10.0}


def test_clean_accuracy_is_on_the_attacked_images() -> None:
    entry = robustbench_entry({**RESULT, "autoattack_error": 60.0, "adv_clean_error": 20.0, "adv_examples": 50,
                               "eps": 8 / 255, "settings": {"threat_model": "linf", "images": 10000}},
                              architecture="resnet20")
    assert (entry["clean_acc"], entry["autoattack_acc"], entry["n_examples"]) == ("80.00", "40.00", 50)
    assert entry["ews"]["split_clean_acc"] == "90.00" and entry["ews"]["split_images"] == 10000
    assert entry["eps"] == "8/255" and entry["threat_model"] == "Linf"


def test_corruption_accuracy_beside_the_clean_accuracy_of_the_same_images() -> None:
    settings = {"threat_model": "corruptions", "images": 10000, "corruption_images": 200}
    subset = robustbench_entry({**RESULT, "corruption_error": 30.0, "corruption_clean_error": 12.5,
                                "settings": settings}, architecture="resnet20")
    assert (subset["clean_acc"], subset["corruptions_acc"], subset["n_examples"]) == ("87.50", "70.00", 200)
    whole = robustbench_entry({**RESULT, "corruption_error": 30.0, "settings": {**settings, "corruption_images": None}},
                              architecture="resnet20")
    assert (whole["clean_acc"], whole["n_examples"]) == ("90.00", 10000)  # a -C set of the whole split
