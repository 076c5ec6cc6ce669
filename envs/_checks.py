"""Argument checks shared by the envs and wrappers: one-line errors that name the argument."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from typing import Any


def is_real(value: object) -> bool:
    """A finite real number: Python or numpy, any width; ``bool`` is not a number here."""
    return (
        isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)  # type: ignore[arg-type]
    )


def is_integer(value: object) -> bool:
    """A Python or numpy integer (not ``bool``)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def real(name: str, value: object, allowed: str, low: float = -math.inf, high: float = math.inf,
         *, low_open: bool = False) -> float:
    """``value`` as a float if it is a finite real in ``[low, high]`` (``(low, high]`` if ``low_open``).

    Raises:
        ValueError: Naming ``name`` and ``allowed`` (the range in words, with its unit).
    """
    if is_real(value) and (low < value if low_open else low <= value) and value <= high:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_options(options: object, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The ``reset`` options as a dict, refusing keys the env does not know.

    Raises:
        ValueError: If ``options`` is neither ``None`` nor a mapping, or has an unknown key.
    """
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"options must be None or a dict, got {options!r}")
    unknown = sorted(str(key) for key in options if key not in allowed)
    if unknown:
        known = ", ".join(allowed) if allowed else "none"
        raise ValueError(f"options: unknown key {unknown[0]!r}; allowed: {known}")
    return dict(options)


def check_render_mode(render_mode: object, metadata: Mapping[str, Any]) -> str | None:
    """``render_mode`` if it is ``None`` or one of ``metadata["render_modes"]``.

    Raises:
        ValueError: Listing the allowed modes.
    """
    modes = tuple(metadata.get("render_modes", ()))
    if render_mode is None or render_mode in modes:
        return render_mode  # type: ignore[return-value]
    raise ValueError(f"render_mode must be None or one of {list(modes)}, got {render_mode!r}")


class FrozenParams(Mapping[str, float]):
    """A read-only name -> value mapping (picklable, comparable with a dict)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, float]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> float:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(self._items)
