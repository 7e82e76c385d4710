"""Provides ``paused``: Python's cyclic garbage collector held off while a long list of
long-lived objects is made.

Records hold dicts and lists, so each one made counts towards the next collection, and every
full collection walks all of them again: at 100,000 records, most of the time goes there. None
of them is part of a cycle, so nothing is lost by collecting once afterwards instead.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No collection pass inside the block; the collector is as it was after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
