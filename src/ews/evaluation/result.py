"""What `ews.evaluate` returns: the errors, the per-corruption table and the settings they were measured with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Flat `eval.json` keys that are errors (%), by the short name `EvaluationResult.errors` uses.
ERROR_KEYS = {
    "clean": "clean_error", "corruption": "corruption_error", "extra_corruption": "extra_corruption_error",
    "mce": "mce", "relative_mce": "relative_mce", "mfr": "mfr", "pgd20": "pgd20_error",
    "autoattack": "autoattack_error",
}


@dataclass(frozen=True)
class EvaluationResult:
    """One model's scores. `metrics` holds them as `eval.json` does; `settings` how they were measured."""

    metrics: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> dict[str, float]:
        """Every error (%) measured, by benchmark: clean, corruption, mce, pgd20, autoattack, each shift set."""
        found = {short: self.metrics[key] for short, key in ERROR_KEYS.items() if self.metrics.get(key) is not None}
        found.update({name: entry["error"] for name, entry in self.metrics.get("shifts", {}).items()})
        return found

    @property
    def corruptions(self) -> dict[str, dict[str, float]]:
        """Error (%) per corruption and severity ("1".."5"), empty when no corruption set was scored."""
        return dict(self.metrics.get("corruptions", {}))

    @property
    def warnings(self) -> list[str]:
        return list(self.metrics.get("warnings", []))

    def to_dict(self) -> dict[str, Any]:
        return {**self.metrics, "settings": dict(self.settings)}

    def to_json(self) -> str:
        """The result as JSON text (what `eval.json` holds, with the settings)."""
        return json.dumps(self.to_dict(), indent=2)
