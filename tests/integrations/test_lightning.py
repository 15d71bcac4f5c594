"""`EWSCallback` in a real `lightning.Trainer` on the CPU: it trains, searches, and resumes the controller exactly."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from ews.errors import ConfigError
from ews.integrations.lightning import EWSCallback

from ..conftest import tiny_model


class Classifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = tiny_model("resnet20")

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        losses = self.ews.loss(x, y)
        self.log("subnet_loss", losses.subnet)
        return losses.total

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def _loader(n: int, seed: int) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 5, (n,), generator=g))
    return DataLoader(data, batch_size=8)


def _fit(epochs: int, *, ckpt: Path | None = None, save: Path | None = None) -> tuple[Classifier, EWSCallback]:
    module, callback = Classifier(), EWSCallback(search_data=_loader(16, seed=1), K=1, seed=3)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, callbacks=[callback])
    trainer.fit(module, _loader(24, seed=0), ckpt_path=ckpt)
    if save is not None:
        trainer.save_checkpoint(save)
    return module, callback


def test_a_resumed_lightning_run_continues_the_search_exactly(tmp_path: Path) -> None:
    whole, whole_callback = _fit(3)
    assert whole_callback.ews.sampler.steps == 2 * 3  # before training and after epochs 1 and 2; 2 batches each
    _fit(2, save=tmp_path / "two.ckpt")
    checkpoint = torch.load(tmp_path / "two.ckpt", weights_only=True)  # the callback's state needs no pickle
    assert any("EWSCallback" in key for key in checkpoint["callbacks"])
    resumed, callback = _fit(3, ckpt=tmp_path / "two.ckpt")
    assert callback.ews.sampler.steps == whole_callback.ews.sampler.steps
    for key, value in whole_callback.ews.sampler.policy.state_dict().items():
        assert torch.equal(callback.ews.sampler.policy.state_dict()[key], value), key
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_a_missing_network_attribute_is_refused_in_one_line() -> None:
    callback = EWSCallback(model_attr="net")
    with pytest.raises(ConfigError, match="Classifier has no such attribute"):
        callback.setup(pl.Trainer(logger=False), Classifier(), "fit")
