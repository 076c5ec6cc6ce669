"""Fit the cloud model of ``envs.irradiance`` to a measured year of hourly irradiance (NREL TMY3).

Reads a TMY3 CSV (hourly global horizontal irradiance, local standard time, hour ending),
computes each hour's clearness ``GHI / clear-sky GHI`` against the Haurwitz model at the
site's latitude, and fits:

- the daily clearness ``K = Σ GHI / Σ clear`` (a Beta law scaled to ``[0, K_MAX]``, by moments);
- the hourly residual ``k_h − K`` (its standard deviation and lag-one-hour autocorrelation,
  hours with the sun more than 10° high).

Then it generates as many days with ``envs.irradiance.Sky`` at 60 s steps and compares the
daily insolation (kWh/m²) with the measured one. Print the fit to paste into
``envs/irradiance.py`` (``TMY3_GREENSBORO``)::

    pip download --no-deps pvlib==0.16.1 && unzip -j pvlib-0.16.1-py3-none-any.whl pvlib/data/723170TYA.CSV
    python examples/fit_irradiance.py --tmy 723170TYA.CSV
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from envs.irradiance import CloudFit, Sky, clear_sky_ghi_w_m2, cos_zenith

SUN_HEIGHT_MIN_RAD = math.radians(10.0)


def read_tmy3(path: Path) -> tuple[dict[str, float], np.ndarray]:
    """The site's (latitude, longitude, time zone) and the 8760 hourly GHI values (W/m²)."""
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    site = {"latitude_deg": float(rows[0][4]), "longitude_deg": float(rows[0][5]), "tz_h": float(rows[0][3])}
    ghi = np.array([float(row[4]) for row in rows[2:]])
    if ghi.size != 8760:
        raise ValueError(f"--tmy: expected 8760 hourly rows, got {ghi.size}")
    return site, ghi.reshape(365, 24)


def solar_hours(day_of_year: int, longitude_deg: float, tz_h: float) -> np.ndarray:
    """Solar time (h) at the middle of each hour-ending interval 01:00 … 24:00 of standard time."""
    b = 2.0 * math.pi * (day_of_year - 81) / 364.0
    equation_of_time_min = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)
    return np.arange(24) + 0.5 + (longitude_deg - 15.0 * tz_h) / 15.0 + equation_of_time_min / 60.0


def fit(site: dict[str, float], ghi: np.ndarray) -> tuple[CloudFit, dict[str, float]]:
    """Fit the cloud model; also return the statistics the fit rests on."""
    latitude = math.radians(site["latitude_deg"])
    clear = np.zeros_like(ghi)
    high_sun = np.zeros(ghi.shape, dtype=bool)
    for day in range(365):
        for hour, t in enumerate(solar_hours(day + 1, site["longitude_deg"], site["tz_h"])):
            cz = cos_zenith(day + 1, t, latitude)
            clear[day, hour] = clear_sky_ghi_w_m2(cz)
            high_sun[day, hour] = cz > math.sin(SUN_HEIGHT_MIN_RAD)
    daily = ghi.sum(axis=1) / clear.sum(axis=1)
    k_max = float(np.ceil(daily.max() * 20.0) / 20.0)
    u = np.clip(daily / k_max, 1e-3, 1 - 1e-3)
    mean, var = u.mean(), u.var()
    common = mean * (1.0 - mean) / var - 1.0
    residual = np.where(high_sun, ghi / np.where(clear > 0, clear, 1.0) - daily[:, None], np.nan)
    pairs = np.stack((residual[:, :-1].ravel(), residual[:, 1:].ravel()))
    pairs = pairs[:, ~np.isnan(pairs).any(axis=0)]
    sigma = float(np.nanstd(residual))
    rho = float(np.corrcoef(pairs)[0, 1])
    stats = {
        "days": 365,
        "daily clearness mean": float(daily.mean()),
        "daily clearness std": float(daily.std()),
        "daily clearness lag-1-day autocorrelation (not modelled)": float(np.corrcoef(daily[:-1], daily[1:])[0, 1]),
        "hourly residual pairs": pairs.shape[1],
    }
    cloud_fit = CloudFit(
        latitude_deg=site["latitude_deg"],
        clearness_max=k_max,
        clearness_alpha=round(float(mean * common), 3),
        clearness_beta=round(float((1.0 - mean) * common), 3),
        hourly_sigma=round(sigma, 3),
        hourly_autocorr=round(rho, 3),
    )
    return cloud_fit, stats


def generated_daily_kwh(cloud_fit: CloudFit, days: int, seed: int, step_s: float = 60.0) -> np.ndarray:
    """Daily insolation (kWh/m²) of ``days`` generated days, one per day of the year in turn."""
    sky = Sky(cloud_fit, step_s)
    rng = np.random.default_rng(seed)
    sky.reset(rng)
    steps = round(86_400 / step_s)
    out = np.zeros(days)
    for day in range(days):
        sky.new_day(rng)
        total = 0.0
        for step in range(steps):
            cz = cos_zenith(day % 365 + 1, (step + 0.5) * step_s / 3600.0, sky.latitude_rad)
            total += clear_sky_ghi_w_m2(cz) * sky.factor()
            sky.advance(rng)
        out[day] = total * step_s / 3.6e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tmy", type=Path, required=True, help="TMY3 CSV file (e.g. pvlib's 723170TYA.CSV)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated year")
    args = parser.parse_args()
    site, ghi = read_tmy3(args.tmy)
    cloud_fit, stats = fit(site, ghi)
    print(f"site: {site}")
    for name, value in stats.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")
    print(f"fit: {cloud_fit}")
    measured = ghi.sum(axis=1) / 1000.0
    generated = generated_daily_kwh(cloud_fit, 365, args.seed)
    print("\n| daily insolation (kWh/m²) | mean | std | 10 % | 50 % | 90 % |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in (("measured (TMY3)", measured), (f"generated (seed {args.seed})", generated)):
        q10, q50, q90 = np.percentile(values, (10, 50, 90))
        print(f"| {name} | {values.mean():.2f} | {values.std():.2f} | {q10:.2f} | {q50:.2f} | {q90:.2f} |")


if __name__ == "__main__":
    main()
