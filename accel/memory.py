"""On-chip SRAM buffers, DRAM, and the prefetch schedule that turns DRAM traffic into stalls.

Model (written down with a worked example in ``docs/timing.md``):

* Each SRAM buffer (``weight``, ``activation``, ``output``, ``replay``) holds named tensors, least
  recently used first out. A GEMM operand that is resident costs no DRAM traffic. One that is not
  is fetched from DRAM the first time a fold needs each part of it; if the whole operand fits in
  its buffer it then stays (and is never fetched twice), otherwise the parts a later fold needs
  again are fetched again.
* DRAM is one channel of ``bandwidth`` bytes per cycle; a transfer of ``b`` bytes occupies it
  ``⌈b / bandwidth⌉`` cycles and completes ``latency`` cycles later. The fetch for fold ``f + 1``
  is issued when fold ``f`` starts (double buffering), write-backs when their fold ends. A fold
  starts when the previous fold has finished and its own data has arrived; the wait is a stall.
  Each transfer is charged once, and the channel is never in two transfers at a time.
"""

import math
from collections import OrderedDict
from dataclasses import dataclass

from accel.config import Dataflow
from accel.timing import FoldPlan, gemm_shape


@dataclass(frozen=True, slots=True)
class FoldTraffic:
    """DRAM bytes around one fold: fetched before it may start, written back after it ends."""

    load_bytes: int
    store_bytes: int


def schedule_stalls(fold_cycles: list[int], traffic: list[FoldTraffic], bandwidth_bytes_per_cycle: float,
                    latency_cycles: int, prologue_store_bytes: int = 0) -> int:
    """Stall cycles of a sequence of folds whose DRAM transfers overlap compute where they can.

    Args:
        fold_cycles: Compute cycles of each fold.
        traffic: DRAM bytes of each fold.
        bandwidth_bytes_per_cycle: DRAM bandwidth.
        latency_cycles: Cycles from issuing a transfer to its completion, beyond its occupancy.
        prologue_store_bytes: Bytes written back before the first fold (evicted dirty tensors).

    Returns:
        Cycles the array waits: before the first fold, between folds, and for the last write-back.
    """
    channel_free = 0  # cycle at which the DRAM channel can start the next transfer

    def transfer(issue: int, nbytes: int) -> int:
        nonlocal channel_free
        if nbytes == 0:
            return issue
        begin = max(issue, channel_free)
        channel_free = begin + math.ceil(nbytes / bandwidth_bytes_per_cycle)
        return channel_free + latency_cycles

    last_done = transfer(0, prologue_store_bytes)
    ready = transfer(0, traffic[0].load_bytes) if traffic else 0
    now = stalls = 0
    for f, cycles in enumerate(fold_cycles):
        start = max(now, ready)
        stalls += start - now
        if f + 1 < len(fold_cycles):
            ready = transfer(start, traffic[f + 1].load_bytes)
        now = start + cycles
        last_done = max(last_done, transfer(now, traffic[f].store_bytes))
    return stalls + max(0, last_done - now)


class SramBuffer:
    """One SRAM buffer: its capacity and the named tensors it holds (least recently used first).

    Args:
        name: The buffer's role (``weight``, ``activation``, ``output``, ``replay``).
        capacity_bytes: Its size.
    """

    def __init__(self, name: str, capacity_bytes: int) -> None:
        self.name = name
        self.capacity_bytes = capacity_bytes
        self._tensors: OrderedDict[str, tuple[int, bool]] = OrderedDict()  # name -> (bytes, dirty)

    @property
    def used_bytes(self) -> int:
        """Bytes held by resident tensors."""
        return sum(nbytes for nbytes, _ in self._tensors.values())

    def holds(self, tensor: str | None, nbytes: int) -> bool:
        """Whether ``tensor`` is resident with this size (and marks it recently used)."""
        if tensor is None or self._tensors.get(tensor, (None,))[0] != nbytes:
            return False
        self._tensors.move_to_end(tensor)
        return True

    def fits(self, nbytes: int) -> bool:
        """Whether a tensor of ``nbytes`` can be held at all."""
        return nbytes <= self.capacity_bytes

    def insert(self, tensor: str, nbytes: int, dirty: bool) -> int:
        """Holds ``tensor``, evicting the least recently used; returns the dirty bytes evicted.

        Dirty tensors (produced on the chip, not in DRAM) must be written back when evicted.
        """
        self._tensors.pop(tensor, None)
        written_back = 0
        while self._tensors and self.used_bytes + nbytes > self.capacity_bytes:
            _, (evicted, was_dirty) = self._tensors.popitem(last=False)
            written_back += evicted if was_dirty else 0
        self._tensors[tensor] = (nbytes, dirty)
        return written_back


@dataclass(frozen=True, slots=True)
class GemmTraffic:
    """DRAM traffic of one GEMM, fold by fold, and its totals per operand."""

    folds: list[FoldTraffic]
    loads_a: int
    loads_b: int
    store_bytes: int


def fold_traffic(plan: FoldPlan, rows: int, cols: int, dataflow: Dataflow, mkn, word_bytes, resident, fits,
                 store_out: bool) -> GemmTraffic:
    """DRAM bytes each fold fetches and writes back (see ``accel.memory``).

    Folds run column fold outer, row fold inner (WS/IS: partial sums finish column by column),
    row fold outer for OS. A resident operand is never fetched; a fitting one is fetched once.
    """
    m, k, n = mkn
    wa, wb, wout = word_bytes
    shape = gemm_shape(m, k, n, dataflow)
    folds: list[FoldTraffic] = []
    loads = [0, 0]
    store_total = 0
    outer, inner = (plan.row_folds, plan.col_folds) if dataflow is Dataflow.OS else (plan.col_folds, plan.row_folds)
    for o in range(outer):
        for i in range(inner):
            r_fold, c_fold = (o, i) if dataflow is Dataflow.OS else (i, o)
            tile_r = min(rows, shape.stationary_rows - r_fold * rows)
            tile_c = min(cols, shape.stationary_cols - c_fold * cols)
            if dataflow is Dataflow.OS:  # A block (tile_r × K) per row fold, B block (K × tile_c) per fold
                need_a = 0 if resident[0] or i > 0 else tile_r * k * wa
                need_b = 0 if resident[1] or (o > 0 and fits[1]) else k * tile_c * wb
                store = tile_r * tile_c * wout
            elif dataflow is Dataflow.WS:  # B tile stationary, A slice (M × tile_r) streamed
                need_b = 0 if resident[1] else tile_r * tile_c * wb
                need_a = 0 if resident[0] or (o > 0 and fits[0]) else m * tile_r * wa
                store = m * tile_c * wout if i == inner - 1 else 0
            else:  # IS: Aᵀ tile stationary, B slice (tile_r × N) streamed
                need_a = 0 if resident[0] else tile_r * tile_c * wa
                need_b = 0 if resident[1] or (o > 0 and fits[1]) else tile_r * n * wb
                store = tile_c * n * wout if i == inner - 1 else 0
            store = store if store_out else 0
            loads[0] += need_a
            loads[1] += need_b
            store_total += store
            folds.append(FoldTraffic(need_a + need_b, store))
    return GemmTraffic(folds, loads[0], loads[1], store_total)
