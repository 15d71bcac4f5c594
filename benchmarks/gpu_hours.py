"""GPU-hour estimates of the ImageNet presets beyond the paper (ViT-S/16, ConvNeXt-T), the way
docs/reproducing.md estimates Table 2, since none of them was ever run:

    hours = 3 x forward FLOPs per image x training images x epochs x step factor / 25 TFLOP/s

- forward FLOPs per image: PyTorch's `FlopCounterMode` on torchvision's own model at 224x224, in
  training mode as a step runs it. Attention goes through the math backend of
  `scaled_dot_product_attention`: the counter does not see the fused CPU kernels (nor
  `nn.MultiheadAttention`'s inference fast path), which would leave the attention matmuls out;
- step factor: 1 for vanilla; for EWS the ResNet-50 factor the page uses (1.714: not measured on
  these models), and the FLOP floor 1 + a subnet pass's FLOPs over the full network's at the
  preset's rho in the default reading, counted on the registered model (`step_time.Bench`);
- 25 TFLOP/s sustained is the page's assumption, not a measurement.

Run from the project root (about a minute on 2 CPU cores):

    .venv/bin/python benchmarks/gpu_hours.py [--presets configs/paper/beyond_*.yaml] [--json out.json]
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any, Callable

import torch
import torchvision
from torch import nn

from ews.config import read_yaml
from bench import Bench, counting_flops

ROOT = Path(__file__).resolve().parents[1]
IMAGENET_TRAIN_IMAGES = 1_281_167
IMAGE_SIZE = 224
STEP_OVER_FORWARD = 3  # a training step: forward + backward, about 3 forward passes
SUSTAINED_FLOPS = 25e12  # the page's assumption for a GPU, not a measurement
EWS_STEP_FACTOR = 1.714  # ResNet-50 EWS / vanilla step, default reading, CPU (docs/benchmarks.md)
TORCHVISION: dict[str, Callable[[], nn.Module]] = {
    "tv_vit_s_16": lambda: torchvision.models.VisionTransformer(
        image_size=IMAGE_SIZE, patch_size=16, num_layers=12, num_heads=6, hidden_dim=384, mlp_dim=1536),
    "tv_convnext_tiny": torchvision.models.convnext_tiny,
}
"""The torchvision network each registered model wraps, built directly for the FLOP count."""


@functools.cache
def forward_flops(name: str) -> int:
    """FLOPs of one training-mode forward pass of one 224x224 image through torchvision's network."""
    torch.manual_seed(0)
    model = TORCHVISION[name]().train()
    x = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad(), counting_flops() as counter:
        model(x)
    return counter.get_total_flops()


@functools.cache
def flop_floor(name: str, rho: float, subnets: int) -> float:
    """1 + the mean FLOPs a subnet pass adds over the full network's, at `rho` in the default reading."""
    settings = argparse.Namespace(device="cpu", channels_last=False, rho=rho, image_size=IMAGE_SIZE, precision="fp32")
    return 1 + Bench(name, batch=1, args=settings).flop_fraction(subnets)


def gpu_hours(flops_per_image: int, epochs: int, factor: float) -> float:
    return STEP_OVER_FORWARD * flops_per_image * IMAGENET_TRAIN_IMAGES * epochs * factor / SUSTAINED_FLOPS / 3600


def estimate(preset: Path, subnets: int) -> dict[str, Any]:
    """The estimate of one preset; its file is read, not validated, so a model need not be registered for vanilla."""
    raw = read_yaml(preset)
    name, epochs = raw["model"]["name"], raw["train"]["epochs"]
    flops = forward_flops(name)
    row: dict[str, Any] = {"preset": preset.stem, "model": name, "gflops_per_image": round(flops / 1e9, 3),
                           "epochs": epochs, "vanilla_hours": round(gpu_hours(flops, epochs, 1.0), 1)}
    if raw.get("method") == "ews":
        floor = flop_floor(name, float(raw.get("ews", {}).get("rho", 0.5)), subnets)
        row |= {"ews_hours": round(gpu_hours(flops, epochs, EWS_STEP_FACTOR), 1), "flop_floor": round(floor, 3),
                "floor_hours": round(gpu_hours(flops, epochs, floor), 1)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", type=Path,
                        default=sorted((ROOT / "configs" / "paper").glob("beyond_*.yaml")))
    parser.add_argument("--subnets", type=int, default=20, help="sampled subnets averaged for the FLOP floor")
    parser.add_argument("--json", help="write the estimates to this JSON file")
    args = parser.parse_args()
    rows = [estimate(preset, args.subnets) for preset in args.presets]
    for row in rows:
        line = (f"{row['preset']}: {row['model']} {row['gflops_per_image']:.2f} GFLOPs/image, {row['epochs']} epochs "
                f"-> {row['vanilla_hours']:.1f} GPU h vanilla")
        if "ews_hours" in row:
            line += (f", EWS {row['ews_hours']:.1f} (x {EWS_STEP_FACTOR}); floor {row['floor_hours']:.1f} "
                     f"(x {row['flop_floor']:.3f})")
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
