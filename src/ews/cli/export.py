"""`ews export`: a checkpoint's weights as safetensors (no pickle, no code), loadable by `ews eval`."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import example


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `export` subcommand and its options."""
    export = commands.add_parser(
        "export", help="write a checkpoint's weights as safetensors (no pickle, no code)", **example("export"))
    export.add_argument("--checkpoint", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write `--out` and name the model it holds."""
    from ..training.export import export_checkpoint

    metadata = export_checkpoint(args.checkpoint, args.out, overwrite=args.overwrite)
    print(f"exported {metadata['model']} ({metadata['num_classes']} classes) weights from {args.checkpoint} "
          f"to {args.out}")
    return 0
