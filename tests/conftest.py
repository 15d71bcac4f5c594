"""Shared fixtures: tiny variants of every registered model, so tests stay fast."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
import torch

from ews import models

# Keyword arguments that shrink each registered family while keeping its graph.
TINY = {
    "resnet18": {"width": 4},
    "resnet34": {"width": 4},
    "resnet50": {"width": 4},
    "preact_resnet18": {"width": 4},
    "resnet20": {"width": 4},
    "wrn28_10": {"depth": 10, "widen_factor": 1},
    "wrn34_10": {"depth": 10, "widen_factor": 1},
    "tv_resnet18": {},
    "tv_resnet50": {"width_per_group": 4},
    "tv_resnext50": {"groups": 4, "width_per_group": 2},
    "convnext_cifar": {"dims": (4, 8), "depths": (1, 2), "layer_scale": 1.0},
    "vit_cifar": {"dim": 8, "depth": 2, "heads": 2},
    # 32x32 inputs: 8x8 patches; ConvNeXt's 4x4 stem and one 2x2 downsampling give 8x8 then 4x4 maps.
    "tv_vit_b_16": {"image_size": 32, "patch_size": 8, "num_layers": 2, "num_heads": 2, "hidden_dim": 8,
                    "mlp_dim": 16},
    "tv_vit_s_16": {"image_size": 32, "patch_size": 8, "num_layers": 2, "num_heads": 2, "hidden_dim": 8,
                    "mlp_dim": 16},
    "tv_convnext_tiny": {"widths": (8, 16), "depths": (1, 2), "stochastic_depth_prob": 0.0, "layer_scale": 1.0},
}


@contextmanager
def one_thread() -> Iterator[None]:
    """Run tiny models on one intra-op thread, restoring the count after.

    Their passes are thousands of small ops: handing each to a second thread costs more than it saves, and on a
    busy machine far more (in a spin-wait for a busy core; a search on a width-8 ResNet-20 took 8x the wall time
    and 15x the CPU time on two threads as on one). One thread also makes a trained model the same whatever
    OMP_NUM_THREADS says, so a test that depends on a training outcome meets one model per CPU kernel path.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_model(name: str, num_classes: int = 5, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.create(name, num_classes=num_classes, **TINY[name])


@pytest.fixture(params=sorted(TINY))
def model_name(request: pytest.FixtureRequest) -> str:
    return request.param


def test_every_registered_model_has_a_tiny_variant() -> None:
    assert sorted(TINY) == models.list_models()
