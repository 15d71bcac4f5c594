"""The method as one object: `EWS` adds weak-subnet search and enhancement to any training loop."""

from .enhancer import EWS, EWSLoss
from .timing import SCHEDULES, SearchTiming, check_first_search

__all__ = ["EWS", "EWSLoss", "SCHEDULES", "SearchTiming", "check_first_search"]
