"""Smooth robot camera trajectories around a target: orbits, back-and-forth arcs and arc-length splines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.interpolate import PchipInterpolator

from selfpose_ros.sim.tf_tree import look_at

TrajectoryKind = Literal["orbit", "arc", "spline"]
TRAJECTORY_KINDS: tuple[TrajectoryKind, ...] = ("orbit", "arc", "spline")


@dataclass(frozen=True)
class TrajectoryLimits:
    """Bounds every generated trajectory respects."""

    max_angular_speed_deg: float = 25.0  # azimuth rate about the target, degrees per second
    max_speed: float = 0.3  # camera linear speed, metres per second
    min_distance: float = 0.35  # camera to target, metres
    max_distance: float = 1.2
    min_elevation_deg: float = 15.0
    max_elevation_deg: float = 70.0


@dataclass(frozen=True)
class ViewRequest:
    """What the camera must see and avoid: the target, the object region, the height it must stay above."""

    target: np.ndarray  # (3,) map point looked at
    region_radius: float  # objects lie within this radius of the target's xy
    min_camera_z: float  # the camera stays above this height (tallest object plus margin)


def _spherical(target: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray, distance: np.ndarray) -> np.ndarray:
    ce = np.cos(elevation)
    offset = np.stack([ce * np.cos(azimuth), ce * np.sin(azimuth), np.sin(elevation)], axis=-1)
    return target + distance[:, None] * offset


def _distance_range(view: ViewRequest, lim: TrajectoryLimits) -> tuple[float, float]:
    lo = max(lim.min_distance, 0.3 + 0.8 * view.region_radius)
    hi = min(lim.max_distance, max(lo + 0.15, 0.75 + 1.2 * view.region_radius))
    return lo, hi


def _min_elevation(view: ViewRequest, lim: TrajectoryLimits, distance: float) -> float:
    need = (view.min_camera_z - view.target[2]) / distance
    e = max(np.deg2rad(lim.min_elevation_deg), float(np.arcsin(np.clip(need, -1.0, 1.0))))
    if e > np.deg2rad(lim.max_elevation_deg):
        raise ValueError("camera cannot stay above the objects within the elevation limit; move it further away")
    return e


def _orbit(rng, view, lim, times):
    d_lo, d_hi = _distance_range(view, lim)
    dist = rng.uniform(d_lo, d_hi)
    e_lo = _min_elevation(view, lim, dist)
    bob = rng.uniform(0.0, np.deg2rad(4.0))
    elev = rng.uniform(e_lo + bob, np.deg2rad(lim.max_elevation_deg))
    omega = np.deg2rad(rng.uniform(5.0, lim.max_angular_speed_deg))
    omega = min(omega, 0.9 * lim.max_speed / dist) * rng.choice([-1.0, 1.0])
    az = rng.uniform(0, 2 * np.pi) + omega * times
    el = elev + bob * np.sin(2 * np.pi * times / rng.uniform(6.0, 12.0) + rng.uniform(0, 2 * np.pi))
    return az, el, np.full_like(times, dist)


def _arc(rng, view, lim, times):
    d_lo, d_hi = _distance_range(view, lim)
    d_mid, d_amp = 0.5 * (d_lo + d_hi), 0.5 * (d_hi - d_lo) * rng.uniform(0.2, 1.0)
    e_lo = _min_elevation(view, lim, d_mid - d_amp)
    e_span = np.deg2rad(lim.max_elevation_deg) - e_lo
    e_mid, e_amp = e_lo + 0.5 * e_span, 0.5 * e_span * rng.uniform(0.2, 0.9)
    amp = np.deg2rad(rng.uniform(20.0, 80.0))
    peak = np.deg2rad(rng.uniform(8.0, lim.max_angular_speed_deg))
    peak = min(peak, 0.6 * lim.max_speed / (d_mid + d_amp))
    period = 2 * np.pi * amp / peak
    phase = rng.uniform(0, 2 * np.pi, size=3)
    az = rng.uniform(0, 2 * np.pi) + amp * np.sin(2 * np.pi * times / period + phase[0])
    el = e_mid + e_amp * np.sin(2 * np.pi * times / (period * rng.uniform(1.3, 2.5)) + phase[1])
    dist = d_mid + d_amp * np.sin(2 * np.pi * times / (period * rng.uniform(1.1, 2.0)) + phase[2])
    return az, el, dist


def _spline(rng, view, lim, times):
    d_lo, d_hi = _distance_range(view, lim)
    e_lo = _min_elevation(view, lim, d_lo)
    speed = min(rng.uniform(0.04, 0.15), np.deg2rad(lim.max_angular_speed_deg) * d_lo, 0.9 * lim.max_speed)
    length = speed * float(times[-1] - times[0]) + 1e-6
    direction = rng.choice([-1.0, 1.0])
    e_hi = np.deg2rad(lim.max_elevation_deg)
    waypoints = [(rng.uniform(0, 2 * np.pi), rng.uniform(e_lo, e_hi), rng.uniform(d_lo, d_hi))]
    while True:
        a, _, _ = waypoints[-1]
        waypoints.append((a + direction * np.deg2rad(rng.uniform(15.0, 50.0)),
                          rng.uniform(e_lo, e_hi), rng.uniform(d_lo, d_hi)))
        w = np.array(waypoints)
        curve = PchipInterpolator(np.arange(len(w)), w, axis=0)
        u = np.linspace(0, len(w) - 1, 400 * (len(w) - 1) + 1)
        eye = _spherical(view.target, *curve(u).T)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(eye, axis=0), axis=1))])
        if len(w) >= 3 and arc[-1] > length:
            break
    u_at = np.interp(speed * (times - times[0]), arc, u)
    az, el, dist = curve(u_at).T
    return az, el, dist


def generate_trajectory(
    kind: TrajectoryKind,
    rng: np.random.Generator,
    view: ViewRequest,
    num_frames: int,
    rate_hz: float,
    limits: TrajectoryLimits = TrajectoryLimits(),
) -> np.ndarray:
    """Camera optical-frame poses in map (num_frames, 4, 4) along a smooth path looking at the target."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not 0.1 <= rate_hz <= 120:
        raise ValueError(f"rate_hz must be in [0.1, 120], got {rate_hz}")
    makers = {"orbit": _orbit, "arc": _arc, "spline": _spline}
    if kind not in makers:
        raise ValueError(f"unknown trajectory kind {kind!r}; known: {TRAJECTORY_KINDS}")
    times = np.arange(num_frames) / rate_hz
    az, el, dist = makers[kind](rng, view, limits, times)
    eye = _spherical(view.target, az, el, dist)
    # The look-at point wanders a little and the camera rolls slightly, slowly.
    drift = rng.uniform(0.0, 0.03)
    periods, phases = rng.uniform(6.0, 15.0, size=3), rng.uniform(0, 2 * np.pi, size=3)
    wander = drift * np.sin(2 * np.pi * times[:, None] / periods + phases) * np.array([1.0, 1.0, 0.3])
    poses = look_at(eye, view.target + wander)
    roll = np.deg2rad(rng.uniform(-4.0, 4.0) + rng.uniform(0.0, 3.0) * np.sin(2 * np.pi * times / rng.uniform(8, 20)))
    c, s = np.cos(roll), np.sin(roll)
    Rroll = np.zeros((num_frames, 3, 3))
    Rroll[:, 0, 0], Rroll[:, 0, 1], Rroll[:, 1, 0], Rroll[:, 1, 1], Rroll[:, 2, 2] = c, -s, s, c, 1.0
    poses[:, :3, :3] = poses[:, :3, :3] @ Rroll
    return poses
