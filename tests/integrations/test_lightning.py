"""`EWSCallback` in a real `lightning.Trainer` on the CPU: it trains, searches, and resumes the controller exactly."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from ews.errors import ConfigError
from ews.integrations.lightning import EWSCallback

from ..conftest import tiny_model


class Classifier(pl.LightningModule):
    def __init__(self, name: str = "resnet20") -> None:
        super().__init__()
        self.model = tiny_model(name)

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


def _fit(epochs: int, *, ckpt: Path | None = None, save: Path | None = None,
         step_checkpoints: Path | None = None) -> tuple[Classifier, EWSCallback]:
    """`epochs` epochs of 3 batches; with `step_checkpoints`, a checkpoint there on each epoch's last batch."""
    module, callback = Classifier(), EWSCallback(search_data=_loader(16, seed=1), K=1, seed=3)
    saving = [] if step_checkpoints is None else [
        ModelCheckpoint(dirpath=step_checkpoints, every_n_train_steps=3, save_top_k=-1)]
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=bool(saving), callbacks=[callback, *saving])
    trainer.fit(module, _loader(24, seed=0), ckpt_path=ckpt)
    if save is not None:
        trainer.save_checkpoint(save)
    return module, callback


Run = tuple[Classifier, EWSCallback, Path]  # the module, its callback, and the folder of its step checkpoints


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Three epochs in one go, with a checkpoint on the last batch of each epoch (in the returned folder)."""
    folder = tmp_path_factory.mktemp("steps")
    module, callback = _fit(3, step_checkpoints=folder)
    return module, callback, folder


def _assert_same_run(resumed: Classifier, callback: EWSCallback, whole: Classifier,
                     whole_callback: EWSCallback) -> None:
    assert callback.ews.sampler.steps == whole_callback.ews.sampler.steps
    for key, value in whole_callback.ews.sampler.policy.state_dict().items():
        assert torch.equal(callback.ews.sampler.policy.state_dict()[key], value), key
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_a_resumed_lightning_run_continues_the_search_exactly(tmp_path: Path, uninterrupted: Run) -> None:
    whole, whole_callback, _ = uninterrupted
    assert whole_callback.ews.sampler.steps == 2 * 3  # before training and after epochs 1 and 2; 2 batches each
    _fit(2, save=tmp_path / "two.ckpt")
    checkpoint = torch.load(tmp_path / "two.ckpt", weights_only=True)  # the callback's state needs no pickle
    assert any("EWSCallback" in key for key in checkpoint["callbacks"])
    _assert_same_run(*_fit(3, ckpt=tmp_path / "two.ckpt"), whole, whole_callback)


def test_a_run_resumed_from_an_epochs_last_step_runs_the_next_epochs_search(uninterrupted: Run) -> None:
    """Lightning resumes a checkpoint saved on an epoch's last batch into the next epoch without
    `on_train_epoch_start`; the search due before that epoch must still run, once."""
    whole, whole_callback, folder = uninterrupted
    resumed, callback = _fit(3, ckpt=folder / "epoch=0-step=3.ckpt")
    _assert_same_run(resumed, callback, whole, whole_callback)


def test_a_missing_network_attribute_is_refused_in_one_line() -> None:
    callback = EWSCallback(model_attr="net")
    with pytest.raises(ConfigError, match="Classifier has no such attribute"):
        callback.setup(pl.Trainer(logger=False), Classifier(), "fit")


@pytest.mark.parametrize("name", ["vit_cifar", "convnext_cifar"])
def test_the_callback_searches_and_enhances_transformer_and_convnext_subnets(name: str) -> None:
    module, callback = Classifier(name), EWSCallback(search_data=_loader(16, seed=1), K=1, seed=3)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, callbacks=[callback])
    trainer.fit(module, _loader(24, seed=0))
    assert callback.ews.sampler.steps > 0 and trainer.callback_metrics["subnet_loss"] > 0
    assert any(not torch.equal(before[k], v) for k, v in module.state_dict().items())
