"""Zero skipping on the array: kept groups, hand counts, both fidelities, declared densities, bad keys."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import Accelerator, load_config
from accel.config import config_from_dict, with_overrides
from accel.sparsity import declared_sparsity, kept_rows
from accel.timing import plan_gemm

SKIPPING = {"sparsity.skipping": "group", "formats.rounding": "nearest"}


def chip(preset="edge-bf16", **overrides):
    return with_overrides(load_config(preset), {**SKIPPING, **overrides})


def kept_rows_ref(b: np.ndarray, group: int) -> list[int]:
    """Row by row: a group is kept when any of its words is not zero; at least the first group."""
    rows = []
    for start in range(0, b.shape[0], group):
        members = list(range(start, min(start + group, b.shape[0])))
        if any(b[r, c] != 0 or np.isnan(b[r, c]) for r in members for c in range(b.shape[1])):
            rows += members
    return rows or list(range(min(group, b.shape[0])))


def group_sparse(rng, k: int, n: int, group: int, zero_groups) -> np.ndarray:
    """A (k, n) float32 matrix without zeros except the whole rows of the listed groups."""
    b = (rng.uniform(0.5, 2.0, (k, n)) * rng.choice([-1, 1], (k, n))).astype(np.float32)
    for g in zero_groups:
        b[g * group:(g + 1) * group] = 0.0
    return b


@given(k=st.integers(1, 24), n=st.integers(1, 5), group=st.integers(1, 6), seed=st.integers(0, 2**16))
@settings(max_examples=150, deadline=None)
def test_kept_rows_against_the_row_by_row_reference(k, n, group, seed):
    rng = np.random.default_rng(seed)
    b = np.where(rng.random((k, n)) < 0.7, 0.0, rng.standard_normal((k, n))).astype(np.float32)
    b[rng.random((k, n)) < 0.05] = -0.0
    assert kept_rows(b, group).tolist() == kept_rows_ref(b, group)


def test_hand_counts_of_a_small_weight_stationary_gemm():
    # 4×4 WS array, G = 2: B (8 × 4) with groups 1 and 2 (rows 2..5) zero keeps 4 rows: one fold of
    # 2R + C + M − 2 = 8 + 4 + 3 − 2 = 13 cycles instead of two; 3·4·4 = 48 MACs skipped; 32 words checked.
    cfg = chip(**{"array.rows": 4, "array.cols": 4, "sparsity.group": 2})
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 1.0, (3, 8)).astype(np.float32), group_sparse(rng, 8, 4, 2, [1, 2])
    acc = Accelerator(cfg)
    acc.gemm(a, b)
    c = acc.counts
    assert c.compute_cycles == 13 and c.folds == 1
    assert c.macs == 96 and c.skipped_macs == 48 and c.zero_macs == 48
    assert dict(c.skipped_macs_by_kind) == {"bf16*bf16+fp32": 48} and dict(c.zero_checks) == {"bf16": 32}
    dense = Accelerator(with_overrides(cfg, {"sparsity.skipping": "none"}))
    dense.gemm(a, b)
    assert dense.counts.compute_cycles == 26 and c.saved_cycles == dense.counts.cycles - c.cycles > 0
    assert acc.utilization() == 48 / (13 * 16)


@given(m=st.integers(1, 12), k=st.integers(1, 40), n=st.integers(1, 12), group=st.sampled_from([1, 2, 4]),
       dataflow=st.sampled_from(["ws", "os", "is"]), fraction=st.floats(0, 1), seed=st.integers(0, 2**16),
       preset=st.sampled_from(["edge-bf16", "edge-int8"]))
@settings(max_examples=60, deadline=None)
def test_skipping_runs_the_compacted_gemm_in_both_fidelities(m, k, n, group, dataflow, fraction, seed, preset):
    cfg = chip(preset, **{"array.rows": 4, "array.cols": 4, "array.dataflow": dataflow, "sparsity.group": group})
    rng = np.random.default_rng(seed)
    groups = -(-k // group)
    zero = [g for g in range(groups) if rng.random() < fraction]
    a, b = rng.uniform(0.5, 1.0, (m, k)).astype(np.float32), group_sparse(rng, k, n, group, zero)
    fast, cycle = Accelerator(cfg), Accelerator(cfg, fidelity="cycle")
    dense = Accelerator(with_overrides(cfg, {"sparsity.skipping": "none"}))
    out = [chip_.gemm(a, b) for chip_ in (fast, cycle, dense)]
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])  # zero products change no sum
    assert fast.counts == cycle.counts
    kept = len(kept_rows_ref(b, group))
    shape = plan_gemm(m, kept, n, 4, 4, cfg.array.dataflow)
    s, d = fast.counts, dense.counts
    assert s.compute_cycles == shape.compute_cycles and s.folds == shape.folds
    assert s.skipped_macs == m * (k - kept) * n <= s.zero_macs == d.zero_macs
    assert s.cycles <= d.cycles and s.saved_cycles == d.cycles - s.cycles
    assert s.macs == d.macs and s.vector_ops == d.vector_ops


@given(m=st.integers(1, 10), k=st.integers(1, 30), n=st.integers(1, 10), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_dense_values_or_skipping_off_count_as_before(m, k, n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.uniform(0.5, 1.0, (k, n)).astype(np.float32)
    base = with_overrides(load_config("edge-bf16"), {"formats.rounding": "nearest"})
    plain, skipping = Accelerator(base), Accelerator(chip(**{"sparsity.group": 4}))
    plain.gemm(a, b)
    skipping.gemm(a, b)
    c = skipping.counts
    assert c.skipped_macs == c.saved_cycles == 0 and dict(c.zero_checks) == {"bf16": k * n}
    assert c.to_dict() | {"zero_checks": {}} == plain.counts.to_dict()


@pytest.mark.parametrize("density", [0.25, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("preset", ["edge-bf16", "edge-int8", "omnidrl"])
def test_weights_at_density_d_count_as_the_workload_declaring_d(preset, density):
    m, k, n, group = 16, 64, 40, 4
    uncoded = {"compression.weight": "none", "compression.activation": "none", "compression.sram": False}
    cfg = chip(preset, **{"sparsity.group": group}, **uncoded)  # coded bytes follow the values, not the density
    rng = np.random.default_rng(3)
    zero = rng.choice(k // group, round((1 - density) * k // group), replace=False)
    a, b = rng.uniform(0.5, 1.0, (m, k)).astype(np.float32), group_sparse(rng, k, n, group, zero)
    by_values = Accelerator(cfg)
    by_values.gemm(a, b, names=("x", "w", "y"))
    declared = Accelerator(with_overrides(cfg, {"sparsity.weight_density": density}))
    declared.gemm_counts(m, k, n, names=("x", "w", "y"))
    run, workload = by_values.counts.to_dict(), declared.counts.to_dict()
    run.pop("underflows"), workload.pop("underflows")  # values the output rounding took to zero
    assert run == workload


def test_declared_densities_without_skipping_gate_only():
    cfg = with_overrides(load_config("edge-int8"), {"sparsity.weight_density": 0.5,
                                                    "sparsity.activation_density": 0.5})
    acc = Accelerator(cfg)
    acc.gemm_counts(8, 16, 10)
    dense = Accelerator(load_config("edge-int8"))
    dense.gemm_counts(8, 16, 10)
    assert acc.counts.zero_macs == 1280 - 320 and acc.counts.skipped_macs == 0
    assert acc.counts.cycles == dense.counts.cycles


def test_declared_skipping_only_where_b_is_the_stored_weights():
    sparsity = chip(**{"sparsity.group": 4, "sparsity.weight_density": 0.3}).sparsity
    assert declared_sparsity(sparsity, 8, 40, 8, ("activation", "weight"), False)[0] == 12  # ⌈0.3 · 10⌉ groups
    assert declared_sparsity(sparsity, 8, 40, 8, ("gradient", "weight"), True)[0] is None
    assert declared_sparsity(sparsity, 8, 40, 8, ("activation", "gradient"), False)[0] is None


@pytest.mark.parametrize(("table", "key"), [
    ({"sparsity": {"skipping": "row"}}, "sparsity.skipping"),
    ({"sparsity": {"skipping": "group", "group": 3}}, "sparsity.group = 3 must divide array.rows = 16"),
    ({"sparsity": {"group": 0}}, "sparsity.group"),
    ({"sparsity": {"weight_density": 0.0}}, "sparsity.weight_density"),
    ({"sparsity": {"activation_density": 1.5}}, "sparsity.activation_density"),
    ({"sparsity": {"gradient_density": "half"}}, "sparsity.gradient_density"),
    ({"sparsity": {"density": 0.5}}, "sparsity.density"),
])
def test_bad_sparsity_keys_are_one_line_errors_naming_them(table, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")) as error:
        config_from_dict({"name": "t", **table})
    assert "\n" not in str(error.value)


def test_an_output_stationary_group_need_not_divide_the_rows():
    cfg = config_from_dict({"name": "t", "array": {"dataflow": "os"}, "sparsity": {"skipping": "group", "group": 3}})
    assert cfg.sparsity.group == 3


@given(m=st.integers(1, 9), k=st.integers(1, 20), n=st.integers(1, 9), zeros=st.floats(0.0, 0.9),
       seed=st.integers(0, 2**16), fidelity=st.sampled_from(["fast", "cycle"]))
@settings(max_examples=40, deadline=None)
def test_element_skipping_skips_every_zero_operand_mac_and_keeps_the_schedule(m, k, n, zeros, seed, fidelity):
    cfg = chip(**{"sparsity.skipping": "element", "array.rows": 4, "array.cols": 4})
    rng = np.random.default_rng(seed)
    a = np.where(rng.random((m, k)) < zeros, 0.0, rng.uniform(0.5, 2.0, (m, k))).astype(np.float32)
    b = np.where(rng.random((k, n)) < zeros, 0.0, rng.uniform(0.5, 2.0, (k, n))).astype(np.float32)
    skipping = Accelerator(cfg, fidelity)
    dense = Accelerator(with_overrides(cfg, {"sparsity.skipping": "none"}), fidelity)
    assert np.array_equal(skipping.gemm(a, b), dense.gemm(a, b))
    s, d = skipping.counts, dense.counts
    zero_macs = int(sum((a[i, j] == 0) or (b[j, c] == 0) for i in range(m) for j in range(k) for c in range(n)))
    assert s.zero_macs == d.zero_macs == zero_macs and s.skipped_macs == zero_macs and d.skipped_macs == 0
    assert dict(s.skipped_macs_by_kind) == ({"bf16*bf16+fp32": zero_macs} if zero_macs else {})
    assert dict(s.zero_checks) == {"bf16": m * k + k * n} and s.saved_cycles == 0
    assert (s.cycles, s.compute_cycles, s.folds, dict(s.sram_reads)) == (d.cycles, d.compute_cycles, d.folds,
                                                                          dict(d.sram_reads))


def test_element_skipping_in_a_workload_skips_the_declared_zeros():
    cfg = chip(**{"sparsity.skipping": "element", "sparsity.activation_density": 0.5,
                  "sparsity.weight_density": 0.8})
    acc = Accelerator(cfg)
    acc.gemm_counts(8, 16, 10)
    c = acc.counts
    assert c.zero_macs == c.skipped_macs == 1280 - round(1280 * 0.5 * 0.8)
    assert dict(c.zero_checks) == {"bf16": 8 * 16 + 16 * 10} and c.saved_cycles == 0
