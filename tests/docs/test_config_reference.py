"""The configuration reference covers every config key, with a type, a default and a meaning."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from ews.config import Config

HOOK = Path(__file__).resolve().parents[2] / "docs" / "hooks" / "config_reference.py"


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    """The MkDocs hook that generates the page, imported from its file (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("ews_docs_config_reference", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def _leaf_keys(node: Any, prefix: str = "") -> list[str]:
    keys = []
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if dataclasses.is_dataclass(value):
            keys += _leaf_keys(value, f"{prefix}{field.name}.")
        else:
            keys.append(prefix + field.name)
    return keys


def test_reference_lists_every_key_once(hook: ModuleType) -> None:
    expected = _leaf_keys(Config())
    listed = [key.name for key in hook.config_keys()]
    assert listed == expected
    page = hook.reference_markdown()
    for key in expected:
        assert page.count(f"| `{key}` |") == 1, f"{key} is not listed exactly once in the generated page"


def test_every_key_has_type_default_and_meaning(hook: ModuleType) -> None:
    for key in hook.config_keys():
        assert key.type and key.default, key
        assert key.meaning.strip(), (f"config key {key.name} has no meaning: add a comment beside it in "
                                     f"src/ews/config.py (or an entry in docs/hooks/config_reference.py)")


def test_extra_meanings_are_not_stale(hook: ModuleType) -> None:
    """Fallback meanings exist only for keys the source leaves uncommented; a comment added there wins."""
    stale = set(hook.EXTRA_MEANINGS) - hook.uncommented_keys()
    assert not stale, f"EXTRA_MEANINGS describes keys that are commented in config.py or gone: {sorted(stale)}"


def test_defaults_match_the_code(hook: ModuleType) -> None:
    """Each default, read back as YAML, is the value a fresh `Config()` holds."""
    config = Config()
    for key in hook.config_keys():
        value: Any = config
        for part in key.name.split("."):
            value = getattr(value, part)
        if "(=" in key.default:  # an expression such as `8/255 (= 0.03137)`
            assert key.default.startswith(tuple("0123456789")), key
            continue
        assert yaml.safe_load(key.default) == value, f"{key.name}: page says {key.default}, code has {value!r}"


def test_page_holds_the_placeholder(hook: ModuleType) -> None:
    page = (HOOK.parents[1] / "reference" / "config.md").read_text()
    assert hook.PLACEHOLDER in page
