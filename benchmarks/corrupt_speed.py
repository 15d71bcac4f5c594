"""Speed of -C set generation at 32x32: images per second per corruption, and the gain from workers.

Corrupts `--images` digits test images (32x32 RGB) at `--severity` with each of the 19
corruptions in this process, then writes one full set (every corruption, severities
1-5) of those images tiled `--repeat` times with one worker and with `--workers`
workers and reports the speed-up (starting the workers costs a few seconds once: the
fork server imports ews and torch). Run from the project root:

    .venv/bin/python benchmarks/corrupt_speed.py [--images 200] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from ews.corruptions import names
from ews.corruptions.generate import corrupt, dataset_to_uint8, write_corrupted_set
from ews.corruptions.seeding import image_rng
from ews.data import load


def per_corruption_speed(images: np.ndarray, severity: int) -> dict[str, float]:
    """Images per second for each corruption, one process."""
    speed = {}
    for name in names.ALL:
        start = time.perf_counter()
        for index, image in enumerate(images):
            corrupt(image, name, severity, rng=image_rng(0, corruption=name, severity=severity, index=index))
        speed[name] = len(images) / (time.perf_counter() - start)
    return speed


def full_set_seconds(images: np.ndarray, labels: np.ndarray, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        write_corrupted_set(images, labels, out, workers=workers, progress=False)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="compared with one worker on a full set")
    parser.add_argument("--repeat", type=int, default=5, help="the full set uses the images this many times over")
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args()

    dataset, _ = load("digits", train=False, augment="none", limit=args.images)
    images, labels = dataset_to_uint8(dataset)
    speed = per_corruption_speed(images, args.severity)
    print(f"{len(images)} digits images, 32x32, severity {args.severity}")
    print("| corruption | images/s |\n|---|---:|")
    for name, rate in speed.items():
        print(f"| {name} | {rate:,.0f} |")

    set_images, set_labels = np.tile(images, (args.repeat, 1, 1, 1)), np.tile(labels, args.repeat)
    one = full_set_seconds(set_images, set_labels, workers=1)
    many = full_set_seconds(set_images, set_labels, workers=args.workers)
    total = len(set_images) * len(names.ALL) * len(names.SEVERITIES)
    print(f"full set ({len(names.ALL)} corruptions x 5 severities = {total} images): "
          f"1 worker {one:.2f}s ({total / one:,.0f} images/s), {args.workers} workers {many:.2f}s, "
          f"speed-up {one / many:.2f}x")
    if args.json:
        result = {
            "images": len(images), "severity": args.severity, "images_per_second": speed,
            "full_set_images": total, "seconds_1_worker": one, f"seconds_{args.workers}_workers": many,
            "speedup": one / many,
        }
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
