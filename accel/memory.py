"""On-chip SRAM buffers: capacity and the named tensors each holds, least recently used first out.

A GEMM operand that is resident costs no DRAM traffic; the planner (``accel.planner``) decides
what each GEMM fetches, keeps and writes back, and the ``Accelerator`` applies it here.
"""

from collections import OrderedDict


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
