"""Images per second of `cifar_c_errors` vs a plain PyTorch loop over the same -C files, side by side.

Writes a synthetic CIFAR-10-C-sized slice (random uint8 images, 5 severities x N per
file) into a temporary folder, then times both on the same model, alternating which runs
first in each repeat so drift in machine load hits both alike. The plain loop loads each
file fully with `np.load`, converts batches to float on the host and counts wrong
predictions; `cifar_c_errors` memory-maps the files, moves uint8 batches and checks every
file before scoring. Both must report identical errors. Run from the project root:

    .venv/bin/python benchmarks/corruption_eval.py [--per-severity 2000] [--files 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ews import models
from ews.corruptions import names
from ews.corruptions.scoring import cifar_c_errors


def write_slice(folder: Path, *, files: int, per_severity: int, size: int, seed: int) -> None:
    """`files` corruption files of uint8 (5 * per_severity, size, size, 3) and their labels."""
    rng = np.random.default_rng(seed)
    for name in names.BENCHMARK[:files]:
        np.save(folder / f"{name}.npy",
                rng.integers(0, 256, (5 * per_severity, size, size, 3), dtype=np.uint8))
    np.save(folder / "labels.npy", np.tile(rng.integers(0, 10, per_severity), 5))


@torch.no_grad()
def plain_loop(model: nn.Module, folder: Path, *, batch_size: int, device: torch.device) -> dict[str, dict[str, float]]:
    """The loop one would write by hand: whole arrays in memory, float batches built on the host."""
    model.eval()
    labels = torch.from_numpy(np.load(folder / "labels.npy"))
    errors: dict[str, dict[str, float]] = {}
    for path in sorted(p for p in folder.glob("*.npy") if p.name != "labels.npy"):
        images = torch.from_numpy(np.load(path))
        per_severity = len(images) // 5
        errors[path.stem] = {}
        for severity in range(1, 6):
            wrong = 0
            for first in range((severity - 1) * per_severity, severity * per_severity, batch_size):
                last = min(first + batch_size, severity * per_severity)
                x = images[first:last].permute(0, 3, 1, 2).float().div(255).to(device)
                wrong += (model(x).argmax(1).cpu() != labels[first:last]).sum().item()
            errors[path.stem][str(severity)] = 100.0 * wrong / per_severity
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20", choices=models.list_models())
    parser.add_argument("--files", type=int, default=3, help="corruption files in the slice")
    parser.add_argument("--per-severity", type=int, default=2000, help="images per severity in each file")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per variant (median reported)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="corruption_error not reported")  # a slice, not the full set

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = models.create(args.model, num_classes=10).to(device).eval()
    images = args.files * 5 * args.per_severity
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_slice(folder, files=args.files, per_severity=args.per_severity, size=args.image_size, seed=0)
        variants = {
            "plain": lambda: plain_loop(model, folder, batch_size=args.batch, device=device),
            "ews": lambda: cifar_c_errors(model, folder, batch_size=args.batch, device=device,
                                          progress=False)["corruptions"],
        }
        with torch.no_grad():
            model(torch.rand(args.batch, 3, args.image_size, args.image_size, device=device))  # warm-up
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        results = {}
        for repeat in range(args.repeats):
            for name in (list(variants) if repeat % 2 == 0 else list(reversed(variants))):
                start = time.perf_counter()
                results[name] = variants[name]()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds[name].append(time.perf_counter() - start)
    rate = {name: images / statistics.median(times) for name, times in seconds.items()}
    report = {
        "model": args.model, "device": str(device), "threads": args.threads, "batch": args.batch,
        "images": images, "images_per_second": rate, "ratio_ews_over_plain": rate["ews"] / rate["plain"],
        "errors_agree": results["ews"] == results["plain"],
    }
    for name in variants:
        print(f"{name:>6}: {rate[name]:9.1f} images/s (median of {args.repeats}, {images} images)")
    print(f" ratio: ews / plain = {report['ratio_ews_over_plain']:.3f}; errors agree: {report['errors_agree']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
