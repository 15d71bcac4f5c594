"""The method as one object: `EWS` adds weak-subnet search and enhancement to any training loop."""

from .enhancer import EWS, EWSLoss
from .settings import EwsConfig, RunSettings
from .timing import SCHEDULES, SearchTiming, check_first_search

__all__ = ["EWS", "EWSLoss", "EwsConfig", "RunSettings", "SCHEDULES", "SearchTiming", "check_first_search"]
