"""Pricing skipped and gated MACs, the zero detection, executed operations and the peak at declared densities."""

import pytest

from accel import EventCounts, load_config
from accel.config import with_overrides
from energy import EnergyModel

KIND = "bf16*bf16+fp32"


def model(gating: bool, skipping: str = "group", **sparsity):
    cfg = with_overrides(load_config("edge-bf16"), {
        "array.zero_gating": gating, "sparsity.skipping": skipping,
        **{f"sparsity.{key}": value for key, value in sparsity.items()}})
    return EnergyModel(cfg)


def counts(macs=1000, zero=600, skipped=400, checks=50):
    return EventCounts(cycles=100, compute_cycles=100, macs=macs, zero_macs=zero, skipped_macs=skipped,
                       macs_by_kind={KIND: macs}, zero_macs_by_kind={KIND: zero},
                       skipped_macs_by_kind={KIND: skipped}, zero_checks={"bf16": checks})


@pytest.mark.parametrize("gating", [False, True])
def test_skipped_macs_cost_nothing_gated_ones_their_registers(gating):
    em = model(gating)
    report = em.estimate(counts())
    arithmetic, register = em.mac_arithmetic_energy_j(KIND), em.mac_register_energy_j(KIND)
    computed = 1000 - 600 if gating else 1000 - 400  # gated: the 200 executed zero MACs do no arithmetic
    want = computed * arithmetic + 600 * register + 50 * em.add_energy_j("bf16")
    assert report.breakdown_j["mac"] == pytest.approx(want, rel=1e-12)
    assert report.ops == 2000 and report.executed_ops == 2 * computed
    assert report.executed_tops_per_w == pytest.approx(report.tops_per_w * computed / 1000, rel=1e-12)


def test_more_skipped_than_zero_macs_is_refused():
    with pytest.raises(ValueError, match="skipped_macs_by_kind"):
        model(False).estimate(counts(zero=300, skipped=400))


@pytest.mark.parametrize("gating", [False, True])
@pytest.mark.parametrize("skipping", ["none", "group", "element"])
def test_peak_counts_dense_equivalent_operations_at_the_declared_densities(gating, skipping):
    w, a = 0.4, 0.5
    em = model(gating, skipping, weight_density=w, activation_density=a)
    arithmetic, register = em.mac_arithmetic_energy_j(KIND), em.mac_register_energy_j(KIND)
    executed = {"none": 1.0, "group": w, "element": w * a}[skipping]
    computed = w * a if gating else executed
    assert em.peak_tops_per_w() * (executed * register + computed * arithmetic) * 1e12 == pytest.approx(2.0)
    dense = model(False, "none")
    assert em.peak_tops_per_w() >= dense.peak_tops_per_w()
    assert dense.peak_tops_per_w() == pytest.approx(2 / dense.mac_energy_j(KIND) / 1e12, rel=1e-15)
