"""Every compiled kernel of accel, found by walking its modules: no fastmath, cached on disk, numpy errors."""

import importlib
import pkgutil

from numba.core.registry import CPUDispatcher

import accel


def kernels() -> dict[str, CPUDispatcher]:
    found = {}
    for info in pkgutil.walk_packages(accel.__path__, "accel."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_kernel_is_compiled_without_fastmath_and_cached():
    found = kernels()
    assert {"accel.numerics.mac.mac_float", "accel.systolic._run", "accel.operands._bit_peaks"} <= set(found)
    for name, kernel in found.items():
        assert kernel.targetoptions.get("fastmath") is False, name
        assert kernel.targetoptions.get("error_model") == "numpy", name
        assert type(kernel._cache).__name__ == "FunctionCache", f"{name} is not cached on disk"

