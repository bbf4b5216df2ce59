"""Height and radius measured from an upright object's own points on its support plane."""

import numpy as np

from selfpose_ros.geometry.axis_scales import AxisScaleFit
from selfpose_ros.geometry.standing_extent import (
    box_holding_points,
    distances_from_axis,
    height_above_plane,
    radius_about_axis,
)
from selfpose_ros.geometry.support_plane import Plane
from selfpose_ros.inference.instance_geometry import (
    MAX_MEASURED_SHRINK,
    RADIUS_EDGE_PX,
    THIN_TOPPED,
    SizedPose,
    measured_extents,
    top_in_view,
)

# A table 0.5 m below a level camera would be y = 0.5; this one is seen from above: camera-frame up (0, -1, 0)
# tilted 30 degrees towards the camera, the plane 0.6 m from the camera origin.
UP = np.array([0.0, -np.cos(np.radians(30)), -np.sin(np.radians(30))])
PLANE = Plane(UP, 0.6)
K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])


def _frame_axes():
    x = np.array([1.0, 0.0, 0.0])
    z = np.cross(x, UP)
    return x, UP, z


def _cylinder_surface(radius: float, height: float, base: np.ndarray, n: int = 4000, seed: int = 0) -> np.ndarray:
    """Points on the side and top rim of an upright cylinder standing on PLANE at ``base`` (a plane point)."""
    rng = np.random.default_rng(seed)
    x, y, z = _frame_axes()
    a = rng.uniform(0, 2 * np.pi, n)
    h = rng.uniform(0, height, n)
    return base + radius * (np.cos(a)[:, None] * x + np.sin(a)[:, None] * z) + h[:, None] * y


def _base() -> np.ndarray:
    """A point on PLANE about 0.9 m in front of the camera."""
    p = np.array([0.0, 0.3, 0.9])
    return p - PLANE.signed_distance(p) * UP


def test_height_and_radius_of_a_cylinder_are_read_off_its_points():
    pts = _cylinder_surface(0.04, 0.12, _base())
    assert abs(height_above_plane(pts, PLANE) - 0.12) < 0.003
    assert abs(radius_about_axis(pts, _base(), UP) - 0.04) < 1e-6
    # batched distances: two axes at once
    d = distances_from_axis(np.stack([pts, pts]), np.stack([_base(), _base() + 0.01 * _frame_axes()[0]]),
                            np.stack([UP, UP]))
    assert d.shape == (2, len(pts)) and np.allclose(d[0], 0.04)


def test_nan_points_are_ignored_and_no_points_give_nan():
    pts = _cylinder_surface(0.04, 0.12, _base())
    pts[:10] = np.nan
    assert np.isfinite(height_above_plane(pts, PLANE))
    assert np.isnan(height_above_plane(np.full((3, 3), np.nan), PLANE))
    assert np.isnan(radius_about_axis(np.zeros((0, 3)), _base(), UP))


def _sized(height: float, radius: float, bottom_gap: float = 0.0) -> SizedPose:
    x, y, z = _frame_axes()
    R = np.stack([x, y, z], axis=1)
    t = _base() + (bottom_gap + height / 2) * UP
    fit = AxisScaleFit(np.ones(3), R, t, 1.0, 0.0, 1)
    return SizedPose(R, t, np.array([2 * radius, height, 2 * radius]), fit)


def test_a_nested_fit_takes_the_measured_height_and_radius_when_the_top_is_seen():
    pts = _cylinder_surface(0.10, 0.06, _base())  # a bowl-like cylinder 20 cm wide, 6 cm tall
    small = _sized(0.04, 0.07)  # the fit nested inside it: too small
    out = measured_extents(small, pts, PLANE, True, True, np.full(3, 0.01), np.full(3, 1.0))
    assert abs(out.size[1] - 0.06) < 0.003 and abs(out.size[0] - 0.20) < 0.01 and out.size[0] == out.size[2]
    assert abs(PLANE.signed_distance(out.translation) - out.size[1] / 2) < 1e-9  # its bottom on the plane
    tall = _sized(0.09, 0.10)  # too tall: brought down only when the top is seen
    assert abs(measured_extents(tall, pts, PLANE, True, True, np.full(3, 0.01), np.ones(3)).size[1] - 0.06) < 0.003
    assert measured_extents(tall, pts, PLANE, True, False, np.full(3, 0.01), np.ones(3)).size[1] == 0.09
    assert measured_extents(small, pts, PLANE, True, False, np.full(3, 0.01), np.ones(3)).size[1] > 0.057


def test_the_measured_radius_gains_the_pixels_the_silhouette_loses():
    """RADIUS_EDGE_PX pixel widths (``pixel_m``) are added to the radius read from the wall; the height is not."""
    pts = _cylinder_surface(0.10, 0.06, _base())
    small = _sized(0.04, 0.07)
    plain = measured_extents(small, pts, PLANE, True, True, np.full(3, 0.01), np.ones(3))
    grown = measured_extents(small, pts, PLANE, True, True, np.full(3, 0.01), np.ones(3), pixel_m=0.003)
    gain = 2 * RADIUS_EDGE_PX * 0.003
    assert RADIUS_EDGE_PX > 0 and abs(grown.size[0] - plain.size[0] - gain) < 1e-9 and grown.size[2] == grown.size[0]
    assert grown.size[1] == plain.size[1]


def test_only_a_thin_topped_category_keeps_a_floor_under_a_measured_height_far_below_the_fit():
    """A bottle's measured top can miss its neck, so its height shrinks by at most max_shrink; a bowl's rim is its
    silhouette's upper edge, so its measured height stands (size_and_pose passes the category's limit)."""
    pts = _cylinder_surface(0.10, 0.03, _base())  # a shallow bowl, 3 cm
    tall = _sized(0.06, 0.10)  # a fit twice as tall
    lo, hi = np.full(3, 0.01), np.ones(3)
    assert abs(measured_extents(tall, pts, PLANE, True, True, lo, hi).size[1] - 0.06 / MAX_MEASURED_SHRINK) < 1e-9
    assert abs(measured_extents(tall, pts, PLANE, True, True, lo, hi, max_shrink=np.inf).size[1] - 0.03) < 0.002
    assert THIN_TOPPED == ("bottle",)


def test_a_fit_that_floats_or_leans_is_left_alone_and_sizes_stay_in_range():
    pts = _cylinder_surface(0.10, 0.06, _base())
    floating = _sized(0.04, 0.07, bottom_gap=0.05)
    assert measured_extents(floating, pts, PLANE, True, True, np.full(3, 0.01), np.ones(3)) is floating
    leaning = _sized(0.04, 0.07)
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    leaning = SizedPose(leaning.rotation @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]), leaning.translation,
                        leaning.size, leaning.fit)
    assert measured_extents(leaning, pts, PLANE, True, True, np.full(3, 0.01), np.ones(3)) is leaning
    capped = measured_extents(_sized(0.04, 0.07), pts, PLANE, True, True, np.full(3, 0.01), np.full(3, 0.05))
    assert np.all(capped.size <= 0.05)


def test_the_top_is_not_in_view_when_it_touches_the_border_or_a_nearer_object():
    pts = _cylinder_surface(0.04, 0.12, _base())
    blocked = np.zeros((240, 320), bool)
    assert top_in_view(pts, PLANE, K, blocked)
    uv = pts @ K.T
    v_top = int(np.round((uv[:, 1] / uv[:, 2])[PLANE.signed_distance(pts) > 0.11].mean()))
    cut = blocked.copy()
    cut[: v_top + 2] = True  # the image ends just below the top (or something nearer covers it)
    assert not top_in_view(pts, PLANE, K, cut)
    low = blocked.copy()
    low[v_top + 40:] = True  # something nearer hides only the lower part: the top is still seen
    assert top_in_view(pts, PLANE, K, low)


def test_a_box_grows_to_hold_its_points_on_the_side_they_leave_it_and_ignores_a_stray_one():
    """A turned box (0.10 x 0.08 x 0.12) whose points reach 3 cm beyond its +z face (a lens the fit left out):
    it grows along z on that side only, its centre moving by half the growth; one far outlier does not count."""
    rng = np.random.default_rng(0)
    c = np.deg2rad(30.0)
    R = np.array([[np.cos(c), 0.0, np.sin(c)], [0.0, 1.0, 0.0], [-np.sin(c), 0.0, np.cos(c)]])
    centre, size = np.array([0.1, -0.05, 0.8]), np.array([0.10, 0.08, 0.12])
    local = rng.uniform(-0.5, 0.5, (4000, 3)) * size
    local[:1000, 2] = rng.uniform(0.06, 0.09, 1000)  # the lens, beyond +z
    local[0] = [0.0, 0.0, -0.5]  # a stray point, far behind
    new_centre, new_size = box_holding_points(R, centre, size, local @ R.T + centre, percentile=99.0)
    np.testing.assert_allclose(new_size[:2], size[:2], atol=1e-9)
    assert 0.145 < new_size[2] < 0.15
    np.testing.assert_allclose((new_centre - centre) @ R, [0.0, 0.0, (new_size[2] - size[2]) / 2], atol=1e-9)
    # points inside leave it as it is; no finite point too
    inside_centre, inside_size = box_holding_points(R, centre, size, (0.4 * local[1:]) @ R.T + centre)
    np.testing.assert_allclose(inside_size, size)
    np.testing.assert_allclose(inside_centre, centre)
    nan_centre, nan_size = box_holding_points(R, centre, size, np.full((5, 3), np.nan))
    np.testing.assert_allclose(nan_size, size)
