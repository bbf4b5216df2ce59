"""Procedural textures of real things and clutter meshes: valid, seeded, tileable where it matters."""

from __future__ import annotations

import numpy as np
import pytest

from selfpose_ros.sim.clutter import CLUTTER_KINDS, clutter_mesh, place_clutter
from selfpose_ros.sim.textures_real import REAL_TEXTURE_KINDS, make_real_texture


@pytest.mark.parametrize("kind", REAL_TEXTURE_KINDS)
def test_real_textures_are_seeded_rgb_in_range_and_not_flat(kind: str) -> None:
    a = make_real_texture(kind, np.random.default_rng(1), size=128)
    b = make_real_texture(kind, np.random.default_rng(1), size=128)
    assert a.shape == (128, 128, 3) and a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert a.std() > 0.01  # a pattern, not a flat colour
    assert not np.array_equal(a, make_real_texture(kind, np.random.default_rng(2), size=128))


def test_basic_kinds_fall_through_and_labels_carry_print() -> None:
    assert make_real_texture("checker", np.random.default_rng(0), size=64).shape == (64, 64, 3)
    label = make_real_texture("label", np.random.default_rng(3), size=256)
    grey = label.mean(axis=2)
    assert np.abs(np.diff(grey, axis=1)).max() > 0.2  # sharp strokes of printed text


@pytest.mark.parametrize("kind", CLUTTER_KINDS)
def test_clutter_meshes_stand_on_the_table_within_the_height_limit(kind: str) -> None:
    mesh = clutter_mesh(kind, np.random.default_rng(4), max_height=0.04)
    lo, hi = mesh.bounds
    assert lo[2] == pytest.approx(0.0, abs=1e-9) and hi[2] <= 0.04 + 1e-9
    np.testing.assert_allclose((lo[:2] + hi[:2]) / 2, 0.0, atol=1e-9)
    assert mesh.is_watertight
    with pytest.raises(ValueError, match="unknown clutter"):
        clutter_mesh("teapot", np.random.default_rng(0), 0.1)


def test_clutter_placement_keeps_clear_of_busy_discs_and_the_table_edge() -> None:
    rng = np.random.default_rng(5)
    meshes = [clutter_mesh(CLUTTER_KINDS[i % len(CLUTTER_KINDS)], rng, 0.1) for i in range(8)]
    busy = [(0.0, 0.0, 0.15)]
    placed = place_clutter(meshes, busy, np.array([[-0.5, -0.4], [0.5, 0.4]]), (0.0, 0.0, 0.4), 0.7, rng)
    assert len(placed) >= 4
    discs = []
    for m in placed:
        lo, hi = m.bounds
        c, r = (lo[:2] + hi[:2]) / 2, 0.5 * np.hypot(*(hi[:2] - lo[:2]))
        assert lo[2] == pytest.approx(0.7) and np.all(lo[:2] >= -0.5 - 1e-9) and hi[0] <= 0.5 + 1e-9
        assert np.hypot(*c) >= r + 0.15
        for c2, r2 in discs:
            assert np.hypot(*(c - c2)) >= r + r2
        discs.append((c, r))
