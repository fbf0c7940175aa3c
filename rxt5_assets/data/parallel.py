"""Per-row Python work spread over forked processes, with nothing pickled on the way in.

The parent puts the rows in a module global just before the pool forks; each worker inherits them and is handed only a
range of positions. Workers must stay clear of polars (its thread pool does not survive a fork): they return plain
Python values or numpy arrays, and frames are built in the parent.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Sequence, TypeVar

Result = TypeVar("Result")

_SHARED: Sequence = ()


@contextmanager
def gc_paused():
    """Bulk row work allocates millions of short-lived, acyclic objects; the cyclic collector's passes over the
    growing results cost ~10% of the data stage and find nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(function: Callable[[Sequence], Result], start: int, stop: int) -> Result:
    with gc_paused():
        return function(_SHARED[start:stop])


def map_slices(function: Callable[[Sequence], Result], rows: Sequence, workers: int = 1) -> list[Result]:
    """`function` over consecutive slices of `rows`, in order: one slice in this process when `workers` is 1 (or the
    rows are few), else small slices on `workers` forked processes (so the last one ends soon after the others).
    `function` must be a module-level function."""
    global _SHARED
    # never fork a process that has loaded torch (its thread pools do not survive a fork): with the in-process
    # executor a model step (base_model) may have run before the data steps in the same process
    if workers <= 1 or len(rows) < 64 or "torch" in sys.modules:
        with gc_paused():
            return [function(rows)]
    size = max(32, len(rows) // (workers * 16))
    starts = range(0, len(rows), size)
    _SHARED = rows
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run, [function] * len(starts), starts, [start + size for start in starts]))
    finally:
        _SHARED = ()


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 8))
