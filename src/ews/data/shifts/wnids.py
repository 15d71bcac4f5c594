"""ImageNet's class lists (WordNet IDs), read from the copies timm ships.

timm (>= 0.9) packages the 1,000 ImageNet-1k WNIDs in label order (sorted, the order
`ImageFolder` gives the training set) and the 200-class subsets of ImageNet-R and
ImageNet-A. Reading them from there keeps one copy of each list, and the same one timm's
own models are labelled by. The 1k list comes through timm's public `ImageNetInfo`; the
subsets have no public accessor, so their packaged files are read directly.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from ...errors import ConfigError

NEEDS_TIMM = "needs timm >= 0.9 for ImageNet's class lists: pip install 'ews-robust[timm]'"
SUBSETS: tuple[str, ...] = ("imagenet_r", "imagenet_a")  # timm's names for its packaged subset lists


@lru_cache(maxsize=None)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k WNIDs in label order: logit k of an ImageNet model is class `imagenet_wnids()[k]`."""
    try:
        from timm.data import ImageNetInfo
    except ImportError:
        raise ConfigError(f"reading ImageNet shift sets {NEEDS_TIMM}") from None
    return tuple(ImageNetInfo("imagenet-1k").label_names())


@lru_cache(maxsize=None)
def subset_wnids(subset: str) -> tuple[str, ...]:
    """The sorted WNIDs of a 200-class subset ("imagenet_r" or "imagenet_a"), as timm ships them."""
    if subset not in SUBSETS:
        raise ConfigError(f"unknown ImageNet subset {subset!r}; allowed: {', '.join(SUBSETS)}")
    try:
        text = resources.files("timm.data").joinpath("_info", f"{subset}_synsets.txt").read_text()
    except (ImportError, FileNotFoundError):
        raise ConfigError(f"reading {subset.replace('_', '-')} {NEEDS_TIMM}") from None
    return tuple(text.split())
