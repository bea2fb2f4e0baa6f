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
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """No cyclic collection inside; after, the collector as it was before (on again, or
    still off when a caller had turned it off).

    `freeze`: what was made inside lives as long as the process (imports), so it is moved
    out of every later collection (`gc.freeze`) on the way out. Left in the youngest
    generation, all of it would be scanned by the first collection after (~10 ms per
    batch of a start's imports), only to be found alive."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        gc.enable()
