"""The vector unit's step-by-step definition, the reference its jitted programs are held against.

This is the implementation ``accel.vector`` had before its operations became jitted programs
(``accel.numerics.elementwise``): each elementary step in numpy float64, rounded by
``Accelerator.round_into``, one tensor at a time.
"""

import numpy as np

from accel.vector import UPDATE_ROLE


class ReferenceVectorUnit:
    """``acc.vector`` as it was written first: every elementary result rounded by
    ``Accelerator.round_into`` in turn, in Python. Same methods, values and counts."""

    def __init__(self, accelerator) -> None:
        self._acc = accelerator

    # --- plumbing --------------------------------------------------------------------------------

    def _run(self, op: str, role: str, inputs: list[np.ndarray], compute) -> list[np.ndarray]:
        """Rounds ``inputs`` into the role's format, applies ``compute`` (float64 → one or more
        float64 arrays, rounded after every elementary step via ``rnd``), and counts it all."""
        fmt = self._acc.vector_format(role)
        shape = inputs[0].shape
        for x in inputs[1:]:
            if x.shape != shape:
                raise ValueError(f"vector {op}: operand shapes differ, {shape} and {x.shape}")
        rounding = self._acc.vector_rounding(role)
        xs = [self._acc.round_into(x, fmt, rounding) for x in inputs]
        outs = compute(*xs, rnd=lambda v: self._acc.round_into(v, fmt, rounding))
        outs = outs if isinstance(outs, tuple) else (outs,)
        written = [o.astype(fmt.value_dtype) for o in outs]
        self._acc.vector_counts(op, role, int(np.prod(shape)), out_elements=outs[0].size,
                                nonfinite=sum(int((~np.isfinite(o)).sum()) for o in outs),
                                values=([x.reshape(-1) for x in inputs], [o.reshape(-1) for o in written]))
        return written

    @staticmethod
    def _as_float(name: str, x) -> np.ndarray:
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"vector: {name} must be a float array, got dtype {arr.dtype}")
        return arr.astype(np.float64)

    # --- activations -----------------------------------------------------------------------------

    def relu(self, x, role: str = "activation") -> np.ndarray:
        """max(x, 0)."""
        return self._run("relu", role, [self._as_float("x", x)], lambda x, rnd: np.maximum(x, 0.0))[0]

    def relu_grad(self, x, dy, role: str = "gradient") -> np.ndarray:
        """dy where x > 0, else 0 (x: the ReLU's input or output)."""
        return self._run("relu_grad", role, [self._as_float("x", x), self._as_float("dy", dy)],
                         lambda x, dy, rnd: np.where(x > 0, dy, 0.0))[0]

    def tanh(self, x, role: str = "activation") -> np.ndarray:
        """tanh(x)."""
        return self._run("tanh", role, [self._as_float("x", x)], lambda x, rnd: rnd(np.tanh(x)))[0]

    def tanh_grad(self, y, dy, role: str = "gradient") -> np.ndarray:
        """dy · (1 − y²), y = tanh(x)."""
        return self._run("tanh_grad", role, [self._as_float("y", y), self._as_float("dy", dy)],
                         lambda y, dy, rnd: rnd(dy * rnd(1.0 - rnd(y * y))))[0]

    # --- elementwise -----------------------------------------------------------------------------

    def add(self, x, y, role: str = "activation") -> np.ndarray:
        """x + y."""
        return self._run("add", role, [self._as_float("x", x), self._as_float("y", y)],
                         lambda x, y, rnd: rnd(x + y))[0]

    def mul(self, x, y, role: str = "activation") -> np.ndarray:
        """x · y."""
        return self._run("mul", role, [self._as_float("x", x), self._as_float("y", y)],
                         lambda x, y, rnd: rnd(x * y))[0]

    def fma(self, x, y, z, role: str = "activation") -> np.ndarray:
        """x · y + z, rounded after the multiply and after the add."""
        return self._run("fma", role, [self._as_float("x", x), self._as_float("y", y), self._as_float("z", z)],
                         lambda x, y, z, rnd: rnd(rnd(x * y) + z))[0]

    def scale(self, x, factor: float, role: str = "activation") -> np.ndarray:
        """factor · x, the factor rounded into the format first."""
        return self._run("scale", role, [self._as_float("x", x)],
                         lambda x, rnd: rnd(x * rnd(np.float64(factor))))[0]

    def maximum(self, x, y, role: str = "activation") -> np.ndarray:
        """Elementwise max(x, y) (a comparator: also max over actions, one column pair at a time)."""
        return self._run("minmax", role, [self._as_float("x", x), self._as_float("y", y)],
                         lambda x, y, rnd: np.maximum(x, y))[0]

    def minimum(self, x, y, role: str = "activation") -> np.ndarray:
        """Elementwise min(x, y) (TD3's twin critics)."""
        return self._run("minmax", role, [self._as_float("x", x), self._as_float("y", y)],
                         lambda x, y, rnd: np.minimum(x, y))[0]

    def sum_rows(self, x, role: str = "gradient") -> np.ndarray:
        """Column sums of a 2-D ``x`` (a bias gradient: the sum over the batch), row 0 first,
        rounded after every add. Returns a 1-D array of ``x.shape[1]`` values."""
        x = self._as_float("x", x)
        if x.ndim != 2:
            raise ValueError(f"vector sum_rows: x must be a 2-D (batch, features) array, got shape {x.shape}")

        def compute(x, rnd):
            total = x[0]
            for row in x[1:]:
                total = rnd(total + row)
            return total
        return self._run("sum_rows", role, [x], compute)[0]

    # --- losses ----------------------------------------------------------------------------------

    def huber(self, pred, target, delta: float = 1.0, role: str = "gradient") -> tuple[float, np.ndarray]:
        """Mean Huber loss and its gradient with respect to ``pred`` (SB3's smooth-L1 for delta = 1)."""
        def compute(p, t, rnd):
            d, dlt = rnd(p - t), rnd(np.float64(delta))
            small = np.abs(d) <= dlt
            loss = np.where(small, rnd(rnd(0.5) * rnd(d * d)), rnd(dlt * rnd(np.abs(d) - rnd(0.5 * dlt))))
            grad = rnd(np.where(small, d, dlt * np.sign(d)) / d.size)
            return loss, grad
        loss, grad = self._run("huber", role, [self._as_float("pred", pred), self._as_float("target", target)],
                               compute)
        return float(np.mean(loss, dtype=np.float64)), grad

    def mse(self, pred, target, role: str = "gradient") -> tuple[float, np.ndarray]:
        """Mean squared error and its gradient with respect to ``pred``."""
        def compute(p, t, rnd):
            d = rnd(p - t)
            return rnd(d * d), rnd(rnd(2.0 * d) / d.size)
        loss, grad = self._run("mse", role, [self._as_float("pred", pred), self._as_float("target", target)], compute)
        return float(np.mean(loss, dtype=np.float64)), grad

    # --- optimizers and target networks ----------------------------------------------------------

    def sgd_momentum(self, w, g, velocity, lr: float, momentum: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """v ← μ·v + g; w ← w − lr·v (in the master-weight format). Returns (w, v)."""
        def compute(w, g, v, rnd):
            v = rnd(rnd(rnd(np.float64(momentum)) * v) + g)
            return rnd(w - rnd(rnd(np.float64(lr)) * v)), v
        return tuple(self._run("sgd_momentum", UPDATE_ROLE, [self._as_float("w", w), self._as_float("g", g),
                                                             self._as_float("velocity", velocity)], compute))

    def adam(self, w, g, m, v, step: int, lr: float, beta1: float = 0.9, beta2: float = 0.999,
             eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One Adam update (Kingma & Ba) in the master-weight format. ``step`` counts from 1. Returns (w, m, v)."""
        if step < 1:
            raise ValueError(f"adam: step counts from 1, got {step}")
        c1, c2 = 1.0 - beta1**step, 1.0 - beta2**step

        def compute(w, g, m, v, rnd):
            b1, b2, k1, k2 = (rnd(np.float64(c)) for c in (beta1, beta2, 1.0 - beta1, 1.0 - beta2))
            m = rnd(rnd(b1 * m) + rnd(k1 * g))
            v = rnd(rnd(b2 * v) + rnd(k2 * rnd(g * g)))
            denom = rnd(rnd(np.sqrt(rnd(v / rnd(np.float64(c2))))) + rnd(np.float64(eps)))
            step_size = rnd(rnd(np.float64(lr)) * rnd(m / rnd(np.float64(c1))))
            return rnd(w - rnd(step_size / denom)), m, v
        return tuple(self._run("adam", UPDATE_ROLE, [self._as_float("w", w), self._as_float("g", g),
                                                     self._as_float("m", m), self._as_float("v", v)], compute))

    def polyak(self, target, online, tau: float) -> np.ndarray:
        """target ← (1 − τ)·target + τ·online (in the master-weight format)."""
        return self._run("polyak", UPDATE_ROLE, [self._as_float("target", target), self._as_float("online", online)],
                         lambda t, o, rnd: rnd(rnd(rnd(np.float64(1.0 - tau)) * t) + rnd(rnd(np.float64(tau)) * o)))[0]
