"""EWS in Lightning: a LightningModule and `ews.integrations.lightning.EWSCallback` on the digits.

    pip install 'ews-robust[lightning]'
    python examples/lightning_module.py [--epochs 4] [--limit N] [--resume CKPT]

The callback builds `ews.EWS` on `self.model`, searches for weak subnets before every K-th
epoch on D_s, and stores the controller in every checkpoint, so `--resume last.ckpt`
continues the search exactly. The module only swaps its loss for `self.ews.loss(x, y).total`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Subset

import ews
from ews.data import load
from ews.integrations.lightning import EWSCallback


class DigitsClassifier(pl.LightningModule):
    def __init__(self, num_classes: int, mean: tuple, std: tuple, lr: float = 0.05) -> None:
        super().__init__()
        self.model = ews.models.create("resnet20", num_classes=num_classes, mean=mean, std=std, width=8)
        self.lr = lr

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        losses = self.ews.loss(x, y)  # bound by EWSCallback
        self.log_dict({"loss": losses.base, "subnet_loss": losses.subnet}, prog_bar=True)
        return losses.total

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_accuracy", (self.model(x).argmax(1) == y).float().mean(), prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, default=Path("runs/lightning-example"))
    parser.add_argument("--resume", type=Path, help="a checkpoint written by an earlier run (e.g. OUT/last.ckpt)")
    args = parser.parse_args()
    pl.seed_everything(0)
    train_set, info = load("digits", train=True, limit=args.limit)
    plain_train, _ = load("digits", train=True, augment="none", limit=args.limit)
    test_set, _ = load("digits", train=False, limit=args.limit)
    search_data = DataLoader(Subset(plain_train, range(0, len(plain_train), 10)), batch_size=128, shuffle=True)

    module = DigitsClassifier(info.num_classes, info.mean, info.std)
    trainer = pl.Trainer(
        max_epochs=args.epochs, accelerator="auto", devices=1, default_root_dir=args.out, logger=False,
        enable_progress_bar=False,
        callbacks=[EWSCallback(search_data=search_data, rho=0.5, lam=1.0, K=2),
                   pl.callbacks.ModelCheckpoint(dirpath=args.out, save_last=True)],
    )
    trainer.fit(module, DataLoader(train_set, batch_size=64, shuffle=True), DataLoader(test_set, batch_size=256),
                ckpt_path=args.resume)
    print(f"val accuracy {float(trainer.callback_metrics['val_accuracy']):.3f}; checkpoint {args.out / 'last.ckpt'}")


if __name__ == "__main__":
    main()
