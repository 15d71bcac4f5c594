"""Fine-tune a torchvision ResNet with EWS: adapt it, load its weights, train a new head and the body.

    python examples/finetune_torchvision.py [--weights resnet18.pth] [--epochs 2] [--limit N]

`ews.models.from_torchvision` re-hosts the network's residual blocks so EWS can run its
subnets; parameters and state-dict keys stay torchvision's, so a weights file (for
example ImageNet weights saved with `torch.save(torchvision.models.resnet18(weights=...)
.state_dict(), "resnet18.pth")` on a machine with internet) loads into `model.net`.
This example fine-tunes on the digits, upsampled to 64x64 images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset

import ews
from ews.data import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="a torchvision ResNet-18 state dict (default: random init)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    torch.manual_seed(0)
    train_set, info = load("digits", train=True, limit=args.limit)
    plain_train, _ = load("digits", train=True, augment="none", limit=args.limit)
    test_set, _ = load("digits", train=False, limit=args.limit)

    net = torchvision.models.resnet18()
    if args.weights is not None:
        net.load_state_dict(torch.load(args.weights, weights_only=True))  # weights only: no code runs
    net.fc = torch.nn.Linear(net.fc.in_features, info.num_classes)  # a new head for the new classes
    model = ews.models.from_torchvision(net)  # ImageNet normalisation, as torchvision's weights expect
    enhancer = ews.EWS(model, rho=0.5, lam=1.0, K=1)
    optimizer = torch.optim.SGD([
        {"params": [p for name, p in model.named_parameters() if not name.startswith("net.fc.")], "lr": 0.005},
        {"params": model.net.fc.parameters(), "lr": 0.02},
    ], momentum=0.9, weight_decay=1e-4)

    def upsample(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=64, mode="bilinear", align_corners=False)

    search_data = [(upsample(x), y) for x, y in DataLoader(Subset(plain_train, range(0, len(plain_train), 10)),
                                                           batch_size=128)]
    enhancer.on_train_start(search_data)
    for epoch in range(args.epochs):
        for x, y in DataLoader(train_set, batch_size=64, shuffle=True):
            losses = enhancer.loss(upsample(x), y)
            optimizer.zero_grad()
            losses.total.backward()
            optimizer.step()
        enhancer.on_epoch_end(epoch, search_data, epochs=args.epochs)  # none after the last epoch
        print(f"epoch {epoch + 1}: loss {float(losses.base):.3f}, subnet term {float(losses.subnet):.3f}")
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(upsample(x)).argmax(1) == y).sum()) for x, y in DataLoader(test_set, batch_size=256))
    print(f"clean accuracy {correct / len(test_set):.3f}")


if __name__ == "__main__":
    main()
