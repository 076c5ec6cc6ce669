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
        self._used = 0

    @property
    def used_bytes(self) -> int:
        """Bytes held by resident tensors."""
        return self._used

    def contents(self) -> tuple[tuple[str, tuple[int, bool]], ...]:
        """The tensors held, least recently used first: ``(name, (bytes, dirty))``."""
        return tuple(self._tensors.items())

    def restore(self, contents: tuple[tuple[str, tuple[int, bool]], ...]) -> None:
        """Holds exactly ``contents`` (as ``contents()`` returned them)."""
        self._tensors = OrderedDict(contents)
        self._used = sum(nbytes for nbytes, _ in self._tensors.values())

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
        previous = self._tensors.pop(tensor, None)
        if previous is not None:
            self._used -= previous[0]
        written_back = 0
        while self._tensors and self._used + nbytes > self.capacity_bytes:
            _, (evicted, was_dirty) = self._tensors.popitem(last=False)
            self._used -= evicted
            written_back += evicted if was_dirty else 0
        self._tensors[tensor] = (nbytes, dirty)
        self._used += nbytes
        return written_back
