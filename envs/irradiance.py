"""Sunlight on a small outdoor solar cell: a clear-sky model under clouds fitted to a measured year.

Model (all angles in radians, times in solar hours):

- Declination (Cooper 1969): ``δ = 23.45° · sin(2π (284 + n) / 365)`` on day of year ``n``.
- Sun height: ``cos z = sin φ sin δ + cos φ cos δ cos(15° · (t − 12))`` at latitude ``φ``.
- Clear-sky global horizontal irradiance (Haurwitz 1945, as assessed by Reno, Hansen and
  Stein, Sandia SAND2012-2389): ``GHI = 1098 · cos z · exp(−0.057 / cos z)`` W/m², 0 when
  the sun is down.
- Clouds: ``GHI_t = clear_t · k_t`` with ``k_t = clip(K + x_t, 0, K_MAX)``. The day's clearness
  ``K`` is drawn at midnight from ``K_MAX · Beta(α, β)``; the residual ``x_t`` is an AR(1)
  process with stationary standard deviation ``σ`` and autocorrelation ``ρ_h`` per hour
  (``ρ_h^(Δt / 1 h)`` per step of ``Δt``).

``TMY3_GREENSBORO`` holds the parameters fitted by ``examples/fit_irradiance.py`` to the
hourly GHI of NREL's TMY3 file 723170 (Greensboro, NC, 36.1° N; shipped with pvlib as
``pvlib/data/723170TYA.CSV``); that script also compares the generated days with the
measured ones (docs/envs.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from numpy.random import Generator

HAURWITZ_W_M2 = 1098.0
"""Scale of the Haurwitz clear-sky model (W/m²); its largest value, sun at zenith, is 1037 W/m²."""


@dataclass(frozen=True, slots=True)
class CloudFit:
    """Parameters of the cloud model, fitted to a measured year of hourly GHI.

    Attributes:
        latitude_deg: Latitude of the site (degrees north).
        clearness_max: ``K_MAX``: largest daily clearness the Beta law is scaled to.
        clearness_alpha: Beta ``α`` of the daily clearness ``K / K_MAX``.
        clearness_beta: Beta ``β`` of the daily clearness ``K / K_MAX``.
        hourly_sigma: Stationary standard deviation of the hour-to-hour residual ``x``.
        hourly_autocorr: Lag-one-hour autocorrelation ``ρ_h`` of ``x``.
    """

    latitude_deg: float
    clearness_max: float
    clearness_alpha: float
    clearness_beta: float
    hourly_sigma: float
    hourly_autocorr: float


TMY3_GREENSBORO = CloudFit(
    latitude_deg=36.1,
    clearness_max=1.15,
    clearness_alpha=3.312,
    clearness_beta=1.976,
    hourly_sigma=0.146,
    hourly_autocorr=0.46,
)
"""Fitted to NREL TMY3 723170 by ``python examples/fit_irradiance.py --tmy 723170TYA.CSV``."""


def declination_rad(day_of_year: float) -> float:
    """Solar declination (rad) on ``day_of_year`` (1 = 1 January), Cooper's formula."""
    return math.radians(23.45) * math.sin(2.0 * math.pi * (284.0 + day_of_year) / 365.0)


def cos_zenith(day_of_year: float, solar_hour: float, latitude_rad: float) -> float:
    """Cosine of the solar zenith angle (negative at night) at ``solar_hour`` (0–24 h solar time)."""
    dec = declination_rad(day_of_year)
    hour_angle = math.radians(15.0 * (solar_hour - 12.0))
    return math.sin(latitude_rad) * math.sin(dec) + math.cos(latitude_rad) * math.cos(dec) * math.cos(hour_angle)


def clear_sky_ghi_w_m2(cos_z: float) -> float:
    """Haurwitz clear-sky global horizontal irradiance (W/m²) for the sun at ``cos z``; 0 at night."""
    if cos_z <= 0.0:
        return 0.0
    return HAURWITZ_W_M2 * cos_z * math.exp(-0.057 / cos_z)


def day_length_h(day_of_year: float, latitude_rad: float) -> float:
    """Hours from sunrise to sunset (sun's centre on the horizon) on ``day_of_year``."""
    x = -math.tan(latitude_rad) * math.tan(declination_rad(day_of_year))
    return 24.0 * math.acos(min(max(x, -1.0), 1.0)) / math.pi


class Sky:
    """The cloud state of one site: the day's clearness ``K`` and the AR(1) residual ``x``.

    Randomness comes only from the generator passed in (an env's ``np_random``).

    Args:
        fit: The cloud model's parameters.
        step_s: Time between two ``advance`` calls (s).
    """

    def __init__(self, fit: CloudFit, step_s: float) -> None:
        self.fit = fit
        self.latitude_rad = math.radians(fit.latitude_deg)
        self._rho = fit.hourly_autocorr ** (step_s / 3600.0)
        self._innovation = fit.hourly_sigma * math.sqrt(1.0 - self._rho**2)
        self.clearness = fit.clearness_max
        self.residual = 0.0

    def reset(self, rng: Generator) -> None:
        """A new day's clearness and a residual drawn from its stationary law."""
        self.new_day(rng)
        self.residual = self.fit.hourly_sigma * float(rng.standard_normal())

    def new_day(self, rng: Generator) -> None:
        """Draw the clearness ``K`` of the day that begins."""
        fit = self.fit
        self.clearness = fit.clearness_max * float(rng.beta(fit.clearness_alpha, fit.clearness_beta))

    def advance(self, rng: Generator) -> None:
        """Move the residual on by one step."""
        self.residual = self._rho * self.residual + self._innovation * float(rng.standard_normal())

    def factor(self) -> float:
        """Irradiance now over the clear-sky model's, in ``[0, clearness_max]``."""
        return min(max(self.clearness + self.residual, 0.0), self.fit.clearness_max)
