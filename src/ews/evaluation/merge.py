"""A second `ews eval` into one folder: added to the results there only where no number changes its meaning.

`eval.json` holds one model's numbers beside one set of `settings`, so a later call may add
measurements of another kind (corruptions after attacks, AutoAttack beside PGD-20 at the
same radius and images, another shift set) only if every setting both calls record agrees,
and only for the same weights (a sha256 of the file, so a retrained or resumed checkpoint at
the same path counts as other weights). Otherwise a number computed at eps 1/255 would sit
beside eps 8/255, or a clean error on 50 images beside `n_examples` 20. Such a call is
refused in one line before any work, with the folder untouched; `--overwrite` replaces the
folder's results instead, and another `--out` keeps both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import RunFolderError
from .threat_models import eps_text

# What was evaluated: two calls must agree on each (`checkpoint`, a path, may differ for the same bytes).
IDENTITY = ("weights_sha256", "dataset", "model", "method", "split", "normalization")
_ADVICE = "give another --out to keep both, or --overwrite to replace them (nothing was changed)"


def weights_fingerprint(path: str | Path) -> str:
    """sha256 of a weights file: whether two evaluations scored the same weights, wherever the file lies."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def earlier_results(out: Path, identity: Mapping[str, Any], settings: Mapping[str, Any], *,
                    overwrite: bool = False) -> dict[str, Any]:
    """The results in `out/eval.json` that a new evaluation of `identity` under `settings` joins ({}: none, or
    `overwrite`); a `RunFolderError` if a number there was measured under another value of a setting."""
    path = out / "eval.json"
    if overwrite or not path.is_file():
        return {}
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RunFolderError(f"{path} cannot be read ({err}); {_ADVICE}") from None
    if not isinstance(earlier, dict):
        raise RunFolderError(f"{path} is not an ews evaluation; {_ADVICE}")
    conflict = _conflict(earlier, identity, json.loads(json.dumps(settings)))
    if conflict is not None:
        raise RunFolderError(f"--out {out} holds results {conflict}; {_ADVICE}")
    return earlier


def _conflict(earlier: Mapping[str, Any], identity: Mapping[str, Any], settings: Mapping[str, Any]) -> str | None:
    """What in `earlier` was measured otherwise than a new evaluation would be (None: nothing)."""
    if earlier.get("weights_sha256") != identity.get("weights_sha256"):
        recorded = earlier.get("weights_sha256")
        return (f"of other weights ({earlier.get('checkpoint')}, sha256 {recorded[:12]}...; this evaluation: "
                f"{identity.get('checkpoint')}, sha256 {identity['weights_sha256'][:12]}...)" if recorded else
                "without a record of the weights they were measured on")
    for key in IDENTITY[1:]:
        if earlier.get(key) != identity.get(key):
            return f"of {key} {earlier.get(key)}, this evaluation is of {key} {identity.get(key)}"
    old = earlier.get("settings", {})
    for key in sorted(set(old) & set(settings) - {"attacks"}):
        before, now = old[key], settings[key]
        if key == "shifts":
            before = {name: path for name, path in before.items() if name in now}
            now = {name: path for name, path in now.items() if name in before}
        elif key == "threat_model" and None in (before, now):
            continue  # a threat model names what robustbench.json reports; the measurements carry the rest
        if before != now:
            return f"measured with {_shown(key, before)}; this evaluation uses {_shown(key, now)}"
    return None


def _shown(key: str, value: Any) -> str:
    if key == "eps" and isinstance(value, (int, float)):
        return f"eps {eps_text(value)}"
    return f"{key} {json.dumps(value)}"


def merged_results(earlier: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, Any]:
    """`results` added to `earlier` (checked by `earlier_results`): new numbers win, the settings are the union
    (attacks run, shift sets scored), and warnings are kept once each."""
    merged = {**earlier, **results}
    old, new = earlier.get("settings", {}), results.get("settings", {})
    settings = {**old, **new, "threat_model": new.get("threat_model") or old.get("threat_model")}
    if "attacks" in old and "attacks" in new:
        settings["attacks"] = list(dict.fromkeys([*old["attacks"], *new["attacks"]]))
    if "shifts" in old and "shifts" in new:
        settings["shifts"] = {**old["shifts"], **new["shifts"]}
        merged["shifts"] = {**earlier.get("shifts", {}), **results.get("shifts", {})}
    merged["settings"] = settings
    warnings = list(dict.fromkeys([*earlier.get("warnings", []), *results.get("warnings", [])]))
    if warnings:
        merged["warnings"] = warnings
    return merged
