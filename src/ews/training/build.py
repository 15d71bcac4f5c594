"""What a run is built from, given its config: model, subnet space, EWS, optimiser, schedule and D_s."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import Config
from ..data import DatasetInfo
from ..data.splits import search_subset
from ..models import create
from ..models.registry import takes
from ..method import EWS
from ..objectives import Objective
from ..subnets import SubnetSpace


def build_model(config: Config, info: DatasetInfo) -> nn.Module:
    """The configured model, normalising with the dataset's statistics.

    A model built for a fixed input size (a ViT's position embeddings) is built for the
    dataset's images unless `model.options.image_size` says otherwise.
    """
    options = dict(config.model.options)
    if "image_size" not in options and takes(config.model.name, "image_size"):
        options["image_size"] = info.image_size
    if config.method == "dropout":
        options["drop_rate"] = config.dropout.rate
    return create(config.model.name, num_classes=info.num_classes, mean=info.mean, std=info.std, **options)


def build_space(config: Config, model: nn.Module) -> SubnetSpace:
    """The subnet space the `ews` section describes."""
    e = config.ews
    return SubnetSpace.from_model(model, rho=e.rho, reading=e.reading, rho_paths=e.rho_paths,
                                  rho_channels=e.rho_channels, channels=e.channels)


def build_ews(config: Config, model: nn.Module, objective: Objective) -> EWS | None:
    """The method's state and steps for `method: ews` (sampler, subnet draws, search timing); None otherwise."""
    if config.method != "ews":
        return None
    return EWS.from_config(model, config, objective=objective)


def build_optimizer(model: nn.Module, config: Config) -> torch.optim.Optimizer:
    """`train.optimizer`: the paper's (Nesterov) SGD, or AdamW, which the ViT and ConvNeXt recipes train with.

    Both decay every parameter alike, biases and norm weights included: one rule for both, the one the
    paper's SGD runs use. The DeiT/ConvNeXt recipes exempt 1-D parameters from decay; this does not.
    """
    t = config.train
    if t.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=t.lr, betas=(t.betas[0], t.betas[1]),
                                 weight_decay=t.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=t.lr, momentum=t.momentum, nesterov=t.nesterov and t.momentum > 0,
        weight_decay=t.weight_decay,
    )


def step_milestones(config: Config) -> list[int]:
    """Epochs (counted from the start, warm-up included) at which `step` divides the lr by 10.

    The paper decays at 1/3 and 2/3 of *all* epochs (ImageNet: 60 and 120 of 180), so the default is
    taken from `train.epochs`, never from the epochs left after warm-up; a decay never falls inside warm-up.
    """
    t = config.train
    return t.milestones or sorted({max(t.warmup_epochs + 1, f * t.epochs // 3) for f in (1, 2)})


def build_scheduler(optimizer: torch.optim.Optimizer, config: Config) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: the paper's /10 at 1/3 and 2/3 of training, or cosine; optional warm-up."""
    t = config.train
    main_epochs = t.epochs - t.warmup_epochs
    if t.schedule == "step":
        milestones = [m - t.warmup_epochs for m in step_milestones(config)]
        main = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    else:
        main = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, main_epochs))
    if not t.warmup_epochs:
        return main
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (t.warmup_epochs + 1), total_iters=t.warmup_epochs)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[t.warmup_epochs])


def search_set(config: Config) -> Dataset:
    """D_s: a fixed stratified `search.fraction` of the training images (never the validation split), unaugmented."""
    return search_subset(config.data, config.val_images, config.search.fraction, seed=config.seed)
