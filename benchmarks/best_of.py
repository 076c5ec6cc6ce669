"""Timing shared by the benchmark scripts: the best of several wall-clock runs."""

import time
from collections.abc import Callable


def best_seconds(call: Callable[[], object], repeats: int) -> float:
    """Best of ``repeats`` wall-clock timings of ``call()``, after one untimed call (JIT, caches)."""
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best
