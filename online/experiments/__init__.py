"""Online experiments: A/B tests, team-draft interleaving and Thompson-sampling exploration.

``ExperimentRegistry`` is the one object the service holds (``app.state.experiments``); the modules
beneath it are pure functions (bucketing, statistics, interleaving, exploration) plus the counter stores.
"""

from .config import ExperimentConfigError
from .counters import Counters, CountersUnavailable, InMemoryCounters, RedisCounters
from .registry import Assignment, ExperimentNotFound, ExperimentRegistry

__all__ = [
    "Assignment",
    "Counters",
    "CountersUnavailable",
    "ExperimentConfigError",
    "ExperimentNotFound",
    "ExperimentRegistry",
    "InMemoryCounters",
    "RedisCounters",
]
