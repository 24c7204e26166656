"""Keyed random streams: every draw is a pure function of (seed, stream name, keys).

Deriving each day's randomness from its own key (never from a stream shared across days) is what
makes a 7-day run followed by a 1-day run write the same files as one 8-day run.
"""

import zlib
from datetime import date

import numpy as np

# The simulated world starts here: registry events and deaths are replayed from this day on.
EPOCH = date(2026, 1, 1)
KST_OFFSET_S = 9 * 3600


def rng_for(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """A generator for one named stream; `keys` are non-negative ints such as a date ordinal."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode()), *keys])


def day_start_unix(day: date) -> int:
    """Unix seconds of 00:00 KST on `day`."""
    return (day.toordinal() - date(1970, 1, 1).toordinal()) * 86400 - KST_OFFSET_S
