"""Zero skipping on the array: which k a skipping array keeps, from the values or from declared densities.

With ``[sparsity] skipping = "group"`` the array compacts away every group of ``G = sparsity.group``
consecutive k whose B operand (a forward pass's weights) is zero across all of B's columns: its
comparators see B's words as they are read, an OR per group marks the groups that hold a non-zero,
and the GEMM runs as ``m × kept_k × n`` over the kept groups (the address generator streams only
A's matching columns). The kept k of a GEMM goes into its plan request, so the planner stays a pure
function of (chip, request) and both fidelities run the same compacted GEMM. docs/energy.md
(Sparsity) says what this saves and what it does not model.
"""

import math

import numpy as np

from accel.config import SparsityConfig


def kept_rows(b: np.ndarray, group: int) -> np.ndarray:
    """Indices of the rows of ``b`` (its k) that a skipping array keeps: every row of each group of
    ``group`` consecutive rows that holds a non-zero (NaN counts as one; −0.0 is zero), the last group
    possibly shorter. When every group is zero the first one is kept: the array runs at least one."""
    k = b.shape[0]
    groups = -(-k // group)
    nonzero = np.zeros(groups * group, np.bool_)
    nonzero[:k] = (b != 0).any(axis=1)
    keep = nonzero.reshape(groups, group).any(axis=1)
    keep[0] |= not keep.any()
    return np.flatnonzero(np.repeat(keep, group)[:k])


def declared_sparsity(sparsity: SparsityConfig, m: int, k: int, n: int, roles: tuple[str, str],
                      transpose_b: bool) -> tuple[int | None, int]:
    """The kept k and the zero-operand MACs of a GEMM counted without values, from the declared densities.

    Weights at density ``d`` are taken as pruned in whole skip groups: a skipping array keeps
    ``⌈d · ⌈k / G⌉⌉`` of B's groups when B is the weights as stored (a transposed ``Wᵀ``'s groups
    run across the pruned ones, so it keeps all). Zeros are otherwise independent: of ``m·k·n``
    MACs, ``round(m·k·n · d_A · d_B)`` have two non-zero operands.

    Returns:
        (kept k, None when all of k; zero-operand MACs).
    """
    kept_k = None
    density = sparsity.weight_density
    if sparsity.skipping == "group" and roles[1] == "weight" and not transpose_b and density < 1:
        groups = -(-k // sparsity.group)
        kept = min(k, math.ceil(round(density * groups, 9)) * sparsity.group)
        kept_k = kept if kept < k else None
    macs = m * k * n
    return kept_k, macs - round(macs * sparsity.density(roles[0]) * sparsity.density(roles[1]))
