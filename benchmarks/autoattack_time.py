"""How long RobustBench's protocol takes: standard AutoAttack on the whole 10,000-image CIFAR-10
test set, estimated from one measured pass, since a full run takes hours on a CPU:

    time = seconds per forward-backward pass per image x passes per image, summed over images

- passes: APGD-CE on every image classified correctly; APGD-T, FAB-T and Square only on the
  images still robust after it, each with the library's settings (`ews.attacks.passes_per_image`:
  100 iterations, 9 target classes, 5,000 Square queries at a third of a pass each);
- the upper bound takes every image as clean-correct and robust to the end (what `ews eval`
  prints before it starts); the estimate takes `--clean` and `--robust` accuracy (defaults 0.85
  and 0.5, an adversarially trained CIFAR-10 model's) and lets APGD-CE alone see the images
  that break;
- seconds per pass: measured on this machine (`ews.attacks.seconds_per_pass`, input gradient
  only, after one warm-up) at `--batch`.

Run from the project root (a minute on 2 CPU cores):

    .venv/bin/python benchmarks/autoattack_time.py [--models resnet18,wrn28_10] [--device cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from ews import models
from ews.attacks import library_adversary, passes_per_image, seconds_per_pass
from ews.runtime.device import resolve_device

STANDARD = ("apgd-ce", "apgd-t", "fab-t", "square")


def passes(*, num_classes: int = 10) -> dict[str, float]:
    """Passes one image that stays robust costs in each attack of standard AutoAttack."""
    net = torch.nn.Linear(1, num_classes)
    adversary = library_adversary(net, eps=8 / 255, norm="linf", version="standard", attacks=None, seed=0,
                                  device=torch.device("cpu"), num_classes=num_classes)
    return {attack: passes_per_image(adversary, attack, num_classes) for attack in STANDARD}


def estimate(name: str, *, device: torch.device, batch: int, images: int, clean: float, robust: float) -> dict[str, Any]:
    """Hours of standard AutoAttack on `images` CIFAR-sized images for registered model `name`."""
    torch.manual_seed(0)
    net = models.create(name, num_classes=10).to(device).eval()
    per_pass = seconds_per_pass(net, torch.rand(batch, 3, 32, 32), device)
    cost = passes()
    upper = images * sum(cost.values()) * per_pass
    expected = images * (clean * cost["apgd-ce"] + robust * sum(v for k, v in cost.items() if k != "apgd-ce")) * per_pass
    return {"model": name, "device": str(device), "batch": batch, "images": images, "ms_per_image_pass": per_pass * 1e3,
            "passes": cost, "upper_bound_hours": upper / 3600, "estimate_hours": expected / 3600,
            "clean": clean, "robust": robust}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="resnet18,wrn28_10", help="comma list of registered models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=250, help="AutoAttack's default batch")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--clean", type=float, default=0.85)
    parser.add_argument("--robust", type=float, default=0.5)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    if not 0 <= args.robust <= args.clean <= 1:
        parser.error(f"need 0 <= --robust <= --clean <= 1, got {args.robust} and {args.clean}")
    device = resolve_device(args.device)
    rows = [estimate(name, device=device, batch=args.batch, images=args.images, clean=args.clean, robust=args.robust)
            for name in args.models.split(",")]
    print(f"standard AutoAttack, {args.images} images, passes per robust image: "
          + ", ".join(f"{k} {v:g}" for k, v in rows[0]["passes"].items()))
    for row in rows:
        print(f"{row['model']:<10} {row['device']:<5} {row['ms_per_image_pass']:.3f} ms per image-pass; "
              f"upper bound {row['upper_bound_hours']:.1f} h, estimate {row['estimate_hours']:.1f} h "
              f"(clean {row['clean']}, robust {row['robust']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
