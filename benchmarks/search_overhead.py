"""Share of EWS training time spent searching weak subnets (Algorithm 1, K epochs apart).

Trains a few epochs with the controller, measures one search round over D_s and the
training epochs, and reports the steady-state share of search at `--K` (one round per K
epochs) and the time per controller update. Run from the project root:

    .venv/bin/python benchmarks/search_overhead.py [--model resnet20] [--K 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile

from ews.config import load_config
from ews.runs.run_dir import RunDir
from ews.training.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--K", type=int, default=10)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed (one search round before the first)")
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args()

    config = load_config(overrides=[
        "method=ews", f"data.name={args.data}", f"model.name={args.model}", f"train.epochs={args.epochs}",
        f"ews.K={max(args.K, args.epochs + 1)}", f"search.fraction={args.fraction}", "log.progress=false",
    ])
    with tempfile.TemporaryDirectory() as out:
        Trainer(config).fit(RunDir(out))
        metrics = RunDir(out).read_metrics()
    search = sum(line["search_seconds"] for line in metrics)
    steps = sum(line["search_steps"] for line in metrics)
    epoch = (sum(line["seconds"] for line in metrics) - search) / len(metrics)
    share = search / (args.K * epoch + search)
    result = {
        "model": args.model, "data": args.data, "K": args.K, "fraction": args.fraction,
        "subnets_per_step": config.search.subnets_per_step,
        "epoch_seconds": round(epoch, 3), "search_round_seconds": round(search, 3), "controller_steps": steps,
        "seconds_per_controller_update": round(search / max(steps, 1), 4), "search_fraction": round(share, 4),
    }
    print(f"{args.model} on {args.data}: training epoch {epoch:.2f}s, search round {search:.2f}s "
          f"({steps} controller updates, {result['seconds_per_controller_update'] * 1000:.0f} ms each)")
    print(f"search share of training time at K={args.K}, D_s={args.fraction:.0%}: {share:.2%}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
