"""One place for the Numba options of every kernel in drlsim.

Precision emulation must never use ``fastmath``: it lets LLVM reassociate sums and contract
``a * b + c`` into a fused multiply-add, which changes the rounding the kernels exist to emulate.
"""

import numba

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


def njit(func):
    """Compiles ``func`` with drlsim's kernel options (cached on disk, no fastmath)."""
    return numba.njit(**JIT_OPTIONS)(func)


def njit_inline(func):
    """``njit`` whose function Numba inlines into every jitted caller (``inline="always"``): for a
    small function in a hot loop that LLVM leaves as a call (Philox's rounds), so the loop vectorises."""
    return numba.njit(inline="always", **JIT_OPTIONS)(func)
