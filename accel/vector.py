"""The vector unit: activations, their derivatives, losses, optimizer updates and polyak averaging.

Every operation works on tensors already in the chip's formats and rounds each elementary
result (add, multiply, divide, square root, tanh) once into the format it computes in, as a
vector ALU of that format does. Elementary results are computed in float64 first: for inputs
in formats of at most 24 significand bits the float64 result of +, −, ×, ÷ and √ is correctly
rounded, and rounding it again into the format is the same as rounding the exact result once
(Figueroa 1995: innocuous double rounding needs 53 ≥ 2·24 + 2). ``tanh`` is numpy's float64
value rounded once (within an ulp of float64 of the exact one).

Each operation is one jitted program (``accel.numerics.elementwise``) that rounds exactly as
``Accelerator.round_into`` rounds every step, saturations and stochastic rounding's words of the
chip's Philox stream included; the tests hold it bit for bit against the step-by-step definition.

Cycles: ``⌈elements / lanes⌉ × latency`` per operation; the latencies below are assumptions
(pipelined units, one result per lane per cycle after the first), documented in docs/timing.md.
"""

from dataclasses import dataclass

import numpy as np

from accel.numerics import elementwise as ew
from accel.numerics import narrow
from accel.operands import count_nonfinite, to_format, underflows


@dataclass(frozen=True, slots=True)
class VectorOpSpec:
    """An operation of the vector unit: tensors read, tensors written, cycles per group of lanes."""

    inputs: int
    outputs: int
    latency_cycles: int


VECTOR_OPS = {
    "relu": VectorOpSpec(1, 1, 1), "relu_grad": VectorOpSpec(2, 1, 1), "tanh": VectorOpSpec(1, 1, 4),
    "tanh_grad": VectorOpSpec(2, 1, 2), "add": VectorOpSpec(2, 1, 1), "mul": VectorOpSpec(2, 1, 1),
    "fma": VectorOpSpec(3, 1, 1), "scale": VectorOpSpec(1, 1, 1), "minmax": VectorOpSpec(2, 1, 1),
    "huber": VectorOpSpec(2, 2, 4), "mse": VectorOpSpec(2, 2, 3), "sgd_momentum": VectorOpSpec(3, 2, 3),
    "adam": VectorOpSpec(4, 3, 8), "polyak": VectorOpSpec(2, 1, 2), "sum_rows": VectorOpSpec(1, 1, 1),
    # issued by the array's data path (``quantize`` also by ``VectorUnit.quantize``), not by a caller
    "max_abs": VectorOpSpec(1, 0, 1), "quantize": VectorOpSpec(1, 1, 1), "transpose": VectorOpSpec(1, 1, 1),
}
"""Every vector operation. The latencies are assumptions (pipelined units; ``mse`` and ``huber`` give
the loss and its gradient in one pass, ``adam`` includes its square root and division)."""

Names = tuple[tuple[str, ...], tuple[str, ...]]
"""Names of an operation's input tensors and of its outputs (``Accelerator.vector_counts``): named
operations go through the memory model."""

UPDATE_ROLE = "master"
"""Optimizer updates compute in the master-weight format (or the weight format when there is none)."""


class VectorUnit:
    """The vector unit of an ``Accelerator`` (``acc.vector``).

    Every method takes float arrays (assumed already in the chip's formats: they came from it),
    returns the values the chip produces (float32, or float64 for fixed point wider than 24 bits)
    and counts elements, cycles, SRAM words, saturations and NaN/inf on the accelerator, exactly
    as ``Accelerator.vector_counts`` counts the operation without values. ``names`` (the input
    tensors' names, then the outputs') puts the operation through the memory model: what its
    buffer does not hold comes from DRAM, what does not fit goes back to it.
    """

    def __init__(self, accelerator) -> None:
        self._acc = accelerator
        # role: (value dtype, stochastic?, fused?, format_params, narrow.lane_params)
        self._roles: dict[str, tuple] = {}
        formats = accelerator.config.formats
        self._pow2 = formats.scaling != "none"
        self._blocks = (formats.block, formats.block_span) if formats.scaling == "block_pow2" else (0, 0)
        """(values per scale, span) of ``block_pow2``; (0, 0): one scale per tensor."""

    # --- plumbing --------------------------------------------------------------------------------

    def _run(self, op: str, role: str, inputs: list[np.ndarray], staged, fused, consts: tuple = (),
             outputs: int = 1, out_elements: int | None = None, names: Names | None = None,
             lanes=None) -> list[np.ndarray]:
        """Runs the operation's program in the role's format and counts it; returns the outputs in
        the inputs' shape (``out_elements`` long and flat when given: a reduction).

        Float formats rounded to nearest run ``fused(*inputs, *consts, params, *outputs)`` (one
        pass, returns saturations and NaN/inf), everything else ``staged(*inputs, *consts, params,
        stream, state, *outputs)`` with ``stream = [key, counter]`` of the chip's Philox stream;
        under stochastic rounding the program uses one main word per element of every rounded
        tensor and one per rounded constant (``state[1]`` says how many: a count fixed by the
        operation and its size), and the chip's counter advances by as many. Where the format has
        ``narrow.lane_params`` and the inputs are float32, ``lanes(*inputs, *consts, params,
        lane_params, *outputs)`` (``accel.numerics.narrow``) runs first; it returns False on the
        rare arrays it leaves to ``fused``.
        """
        setup = self._roles.get(role)
        if setup is None:
            fmt = self._acc.vector_format(role)
            stochastic = self._acc.vector_rounding(role) == "stochastic"
            use_fused = fmt.is_float and not stochastic
            params = ew.format_params(fmt, self._pow2, stochastic, *self._blocks)
            setup = self._roles[role] = (fmt.value_dtype, stochastic, use_fused, params,
                                         narrow.lane_params(fmt) if use_fused else None)
        dtype, stochastic, use_fused, params, lane_params = setup
        shape = inputs[0].shape
        for x in inputs[1:]:
            if x.shape != shape:
                raise ValueError(f"vector {op}: operand shapes differ, {shape} and {x.shape}")
        flat = [x.reshape(-1) for x in inputs]
        elements = flat[0].size
        size = elements if out_elements is None else out_elements
        outs = [np.empty(size, dtype) for _ in range(outputs)]
        if (lanes is not None and lane_params is not None and all(x.dtype == np.float32 for x in flat)
                and lanes(*flat, *consts, params, lane_params, *outs)):
            saturations = nonfinite = rounded_to_zero = 0
        elif use_fused:
            saturations, nonfinite = fused(*flat, *consts, params, *outs)
            rounded_to_zero = 0  # floats: not counted (``EventCounts.underflows``)
        else:
            state = np.zeros(ew.STATE_SIZE, np.int64)
            rng = self._acc.rng
            stream = np.array([rng.key, rng.counter], np.uint64) if stochastic else _NO_STREAM
            staged(*flat, *consts, params, stream, state, *outs)
            if stochastic:
                rng.take(int(state[1]))
            saturations, nonfinite, rounded_to_zero = state[0], state[2], state[3]
        self._acc.vector_counts(op, role, elements, out_elements=size, names=names,
                                saturations=int(saturations), nonfinite=int(nonfinite), values=(flat, outs),
                                underflows=int(rounded_to_zero))
        return outs if out_elements is not None else [o.reshape(shape) for o in outs]

    @staticmethod
    def _as_float(name: str, x) -> np.ndarray:
        """``x`` as a float32 or float64 array (other float dtypes converted to float64)."""
        if type(x) is np.ndarray and x.dtype.char in "fd" and x.flags.c_contiguous:
            return x  # what the chip hands on: no checks to repeat
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"vector: {name} must be a float array, got dtype {arr.dtype}")
        if arr.dtype.char not in "fd":
            arr = arr.astype(np.float64)
        return np.ascontiguousarray(arr)

    # --- activations -----------------------------------------------------------------------------

    def relu(self, x, role: str = "activation", names: Names | None = None) -> np.ndarray:
        """max(x, 0)."""
        return self._run("relu", role, [self._as_float("x", x)], ew.relu, ew.fused_relu,
                         names=names, lanes=narrow.relu)[0]

    def relu_grad(self, x, dy, role: str = "gradient", names: Names | None = None) -> np.ndarray:
        """dy where x > 0, else 0 (x: the ReLU's input or output)."""
        return self._run("relu_grad", role, [self._as_float("x", x), self._as_float("dy", dy)], ew.relu_grad,
                         ew.fused_relu_grad, names=names, lanes=narrow.relu_grad)[0]

    def tanh(self, x, role: str = "activation", names: Names | None = None) -> np.ndarray:
        """tanh(x) (numpy's float64 tanh between two kernels: libm's may differ in the last bit)."""
        def staged(x, params, stream, state, out):
            ew.store_rounded(np.tanh(ew.load(x, params, stream, state)), params, stream, state, out)

        def fused(x, params, out):
            rounded = np.empty(x.size)
            saturations, _ = ew.fused_load(x, params, rounded)
            more, nonfinite = ew.fused_store(np.tanh(rounded), params, out)
            return saturations + more, nonfinite
        return self._run("tanh", role, [self._as_float("x", x)], staged, fused, names=names)[0]

    def tanh_grad(self, y, dy, role: str = "gradient", names: Names | None = None) -> np.ndarray:
        """dy · (1 − y²), y = tanh(x)."""
        return self._run("tanh_grad", role, [self._as_float("y", y), self._as_float("dy", dy)], ew.tanh_grad,
                         ew.fused_tanh_grad, names=names, lanes=narrow.tanh_grad)[0]

    # --- elementwise -----------------------------------------------------------------------------

    def _binary(self, op: str, staged, fused, lanes, x, y, role: str, names) -> np.ndarray:
        return self._run(op, role, [self._as_float("x", x), self._as_float("y", y)], staged, fused, names=names,
                         lanes=lanes)[0]

    def add(self, x, y, role: str = "activation", names: Names | None = None) -> np.ndarray:
        """x + y."""
        return self._binary("add", ew.add, ew.fused_add, narrow.add, x, y, role, names)

    def mul(self, x, y, role: str = "activation", names: Names | None = None) -> np.ndarray:
        """x · y."""
        return self._binary("mul", ew.mul, ew.fused_mul, narrow.mul, x, y, role, names)

    def fma(self, x, y, z, role: str = "activation", names: Names | None = None) -> np.ndarray:
        """x · y + z, rounded after the multiply and after the add."""
        return self._run("fma", role, [self._as_float("x", x), self._as_float("y", y), self._as_float("z", z)],
                         ew.fma, ew.fused_fma, names=names, lanes=narrow.fma)[0]

    def scale(self, x, factor: float, role: str = "activation", names: Names | None = None) -> np.ndarray:
        """factor · x, the factor rounded into the format first."""
        return self._run("scale", role, [self._as_float("x", x)], ew.scale, ew.fused_scale, (float(factor),),
                         names=names, lanes=narrow.scale)[0]

    def maximum(self, x, y, role: str = "activation", names: Names | None = None) -> np.ndarray:
        """Elementwise max(x, y) (a comparator: also max over actions, one column pair at a time)."""
        return self._binary("minmax", ew.maximum, ew.fused_maximum, narrow.maximum, x, y, role, names)

    def minimum(self, x, y, role: str = "activation", names: Names | None = None) -> np.ndarray:
        """Elementwise min(x, y) (TD3's twin critics)."""
        return self._binary("minmax", ew.minimum, ew.fused_minimum, narrow.minimum, x, y, role, names)

    def sum_rows(self, x, role: str = "gradient", names: Names | None = None) -> np.ndarray:
        """Column sums of a 2-D ``x`` (a bias gradient: the sum over the batch), row 0 first,
        rounded after every add. Returns a 1-D array of ``x.shape[1]`` values."""
        x = self._as_float("x", x)
        if x.ndim != 2:
            raise ValueError(f"vector sum_rows: x must be a 2-D (batch, features) array, got shape {x.shape}")
        cols = x.shape[1]
        return self._run("sum_rows", role, [x], ew.sum_rows, ew.fused_sum_rows, (cols,), out_elements=cols,
                         names=names, lanes=narrow.sum_rows)[0]

    # --- losses ----------------------------------------------------------------------------------

    def huber(self, pred, target, delta: float = 1.0, role: str = "gradient",
              names: Names | None = None) -> tuple[float, np.ndarray]:
        """Mean Huber loss and its gradient with respect to ``pred`` (SB3's smooth-L1 for delta = 1)."""
        loss, grad = self._run("huber", role, [self._as_float("pred", pred), self._as_float("target", target)],
                               ew.huber, ew.fused_huber, (float(delta),), outputs=2,
                               names=names)
        return float(np.mean(loss, dtype=np.float64)), grad

    def mse(self, pred, target, role: str = "gradient", names: Names | None = None) -> tuple[float, np.ndarray]:
        """Mean squared error and its gradient with respect to ``pred``."""
        loss, grad = self._run("mse", role, [self._as_float("pred", pred), self._as_float("target", target)],
                               ew.mse, ew.fused_mse, outputs=2, names=names)
        return float(np.mean(loss, dtype=np.float64)), grad

    # --- formats ---------------------------------------------------------------------------------

    def quantize(self, x, role: str = "weight", names: Names | None = None) -> np.ndarray:
        """``x`` rounded once into the role's format with the chip's rounding and scaling: the working
        copy of master weights in the weight format (a matrix's output channels are its columns, as
        ``channel_pow2`` scales them). A tensor already in the format comes back unchanged.

        The result is read-only: the chip keeps a weight matrix's rounded operand for the GEMMs that
        read it (``Accelerator.keep_operand``)."""
        x = self._as_float("x", x)
        fmt = self._acc.vector_format(role)
        formats = self._acc.config.formats
        # ``round_into``'s rounding without its float64 copy: a float32 tensor takes the float32 kernels,
        # which round exactly the same values with the same words
        op, saturations = to_format(x, fmt, formats.scaling, self._acc.vector_rounding(role), self._acc.rng,
                                    channel_axis=1 if role == "weight" and x.ndim == 2 else None, block=formats.block,
                                    block_span=formats.block_span)
        out = op.values(fmt.value_dtype)
        if out is x or out.base is not None:  # a fresh array: the caller's stays writable
            out = out.copy()
        out.flags.writeable = False
        nonfinite = count_nonfinite(out)
        self._acc.vector_counts("quantize", role, x.size, names=names, saturations=saturations,
                                nonfinite=nonfinite, underflows=underflows(x, op))
        if role == "weight" and out.ndim == 2 and saturations == nonfinite == 0:
            self._acc.keep_operand(out, op)
        return out

    # --- optimizers and target networks ----------------------------------------------------------

    def sgd_momentum(self, w, g, velocity, lr: float, momentum: float = 0.9,
                     names: Names | None = None) -> tuple[np.ndarray, np.ndarray]:
        """v ← μ·v + g; w ← w − lr·v (in the master-weight format). Returns (w, v)."""
        return tuple(self._run("sgd_momentum", UPDATE_ROLE, [self._as_float("w", w), self._as_float("g", g),
                                                             self._as_float("velocity", velocity)],
                               ew.sgd_momentum, ew.fused_sgd_momentum, (float(lr), float(momentum)), outputs=2,
                               names=names))

    def adam(self, w, g, m, v, step: int, lr: float, beta1: float = 0.9, beta2: float = 0.999,
             eps: float = 1e-8, names: Names | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One Adam update (Kingma & Ba) in the master-weight format. ``step`` counts from 1. Returns (w, m, v)."""
        if step < 1:
            raise ValueError(f"adam: step counts from 1, got {step}")
        consts = tuple(float(c) for c in (lr, beta1, beta2, eps, 1.0 - beta1**step, 1.0 - beta2**step))

        def fused(*args):  # fp32 values in float32 arithmetic unless a result is ambiguous (ew.fused_adam_fp32)
            # or the moments are mostly subnormal (ew.subnormal_heavy): float64 arithmetic, the same bits
            if (self._acc.vector_format(UPDATE_ROLE).name == "fp32" and all(x.dtype == np.float32 for x in args[:4])
                    and not (ew.subnormal_heavy(args[2]) or ew.subnormal_heavy(args[3]))):
                saturations, nonfinite, ambiguous = ew.fused_adam_fp32(*args)
                if not ambiguous:
                    return saturations, nonfinite
            return ew.fused_adam(*args)
        def staged(*args):  # floats rounded stochastically in one pass unless a value needs the general path
            if not (self._acc.vector_format(UPDATE_ROLE).is_float and ew.fused_adam_stochastic(*args)):
                ew.adam(*args)
        return tuple(self._run("adam", UPDATE_ROLE, [self._as_float("w", w), self._as_float("g", g),
                                                     self._as_float("m", m), self._as_float("v", v)],
                               staged, fused, consts, outputs=3, names=names))

    def polyak(self, target, online, tau: float, names: Names | None = None) -> np.ndarray:
        """target ← (1 − τ)·target + τ·online (in the master-weight format)."""
        return self._run("polyak", UPDATE_ROLE, [self._as_float("target", target), self._as_float("online", online)],
                         ew.polyak, ew.fused_polyak, (float(tau),), names=names)[0]


_NO_STREAM = np.zeros(2, np.uint64)
