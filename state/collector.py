"""The cyclic garbage collector paused while long-lived objects are made in bulk.

Rows loaded from the tables, a command's imports: they hold no cycles worth finding, yet
their number sets off collections that scan every object of the process again and again
(a quarter of a load of 20,000 rows, ~10 % of a start's imports). What dies meanwhile is
still freed by reference counting.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside; after, the collector as it was before (on again, or
    still off when a caller had turned it off)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
