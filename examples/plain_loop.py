"""EWS in a plain PyTorch training loop: a CIFAR-style ResNet-20 on scikit-learn's digits (about 25 s on 2 CPUs).

    python examples/plain_loop.py [--epochs 6] [--limit N]

Everything EWS adds is the three marked lines: build `ews.EWS`, call its search hook once
per epoch with D_s (a fixed 10% of the training images, unaugmented), and train on
`ews_.loss(x, y).total` instead of the cross-entropy.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.data import DataLoader, Subset

import ews
from ews.data import load


def accuracy(model: torch.nn.Module, loader: DataLoader) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in loader)
    model.train()
    return correct / len(loader.dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--limit", type=int, help="use only this many training and test images")
    args = parser.parse_args()
    torch.manual_seed(0)
    train_set, info = load("digits", train=True, limit=args.limit)
    plain_train, _ = load("digits", train=True, augment="none", limit=args.limit)
    test_set, _ = load("digits", train=False, limit=args.limit)
    search_set = Subset(plain_train, range(0, len(plain_train), 10))  # D_s: every 10th training image
    loader = DataLoader(train_set, batch_size=64, shuffle=True)

    model = ews.models.create("resnet20", num_classes=info.num_classes, mean=info.mean, std=info.std, width=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    enhancer = ews.EWS(model, rho=0.5, lam=1.0, K=2)                          # EWS 1/3
    search_data = DataLoader(search_set, batch_size=128, shuffle=True)
    enhancer.on_train_start(search_data)
    for epoch in range(args.epochs):
        for x, y in loader:
            losses = enhancer.loss(x, y)                                      # EWS 2/3: CE + lam * KL(full || subnet)
            optimizer.zero_grad()
            losses.total.backward()
            optimizer.step()
        scheduler.step()
        enhancer.on_epoch_end(epoch, search_data, epochs=args.epochs)         # EWS 3/3: search when due
        print(f"epoch {epoch + 1}: cross-entropy {float(losses.base):.3f}, subnet term {float(losses.subnet):.3f}")
    print(f"clean accuracy {accuracy(model, DataLoader(test_set, batch_size=256)):.3f}")


if __name__ == "__main__":
    main()
