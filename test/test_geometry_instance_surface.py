"""The object's own surface out of a bleeding mask: background, flying pixels and the support are dropped."""

import numpy as np
import pytest
from surface_scenes import H, K, W
from surface_scenes import dilate as _dilate
from surface_scenes import disc as _disc
from surface_scenes import dome_scene as _scene

from selfpose_ros.geometry.instance_surface import (
    SurfaceOptions,
    core_points,
    depth_discontinuities,
    mask_core,
    object_surface,
    object_surfaces,
    surface_points,
)
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.geometry.support_plane import Plane


def test_dilated_mask_keeps_only_the_object_surface():
    depth, obj = _scene()
    mask = _dilate(obj, 10)
    s = object_surface(depth, K, mask)
    assert s.seed == "core" and s.num_depth == mask.sum()
    assert not (s.keep & ~obj).any()  # no background pixel
    assert (s.keep & obj).sum() >= 0.9 * obj.sum()  # nearly all of the object (its edge ring goes)
    assert s.num_kept == s.keep.sum() and s.dropped_far > 0
    pts = surface_points(depth, K, s, max_points=500)
    assert pts.shape == (500, 3) and pts[:, 2].max() < 0.7


def test_flying_pixels_at_the_silhouette_are_dropped():
    depth, obj = _scene()
    ring = _dilate(obj, 2) & ~obj
    depth[ring] = np.random.default_rng(1).uniform(0.62, 0.88, ring.sum())  # mixed depths
    mask = _dilate(obj, 6)
    s = object_surface(depth, K, mask)
    assert not (s.keep & ring).any() and not (s.keep & ~obj).any()
    assert s.dropped_edge > 0
    edges = depth_discontinuities(depth)
    assert edges[ring].mean() > 0.9 and not edges[_disc(r=15)].any()


def test_support_plane_points_around_the_base_are_dropped():
    # a camera looking down at a table (plane z_cam = 1.0 - 0.5 y_cam) with an object standing on it
    yy, xx = np.mgrid[:H, :W]
    y = (yy - K[1, 2]) / K[1, 1]
    depth = (1.0 / (1.0 + 0.5 * y)).astype(np.float32)  # the table
    n = np.array([0.0, -0.5, -1.0])
    n /= np.linalg.norm(n)
    plane = Plane(n, 1.0 / np.sqrt(1.25))
    obj = _disc(r=20)
    depth[obj] -= 0.08  # the object's front, 8 cm above the table surface behind it
    mask = _dilate(obj, 8)
    s = object_surface(depth, K, mask, plane=plane)
    assert s.dropped_support > 0 and not (s.keep & ~obj).any()
    pts = backproject_np(depth, K, s.keep)
    assert (plane.signed_distance(pts) > 0.006).all()


def test_a_nearer_part_split_off_by_self_occlusion_stays_with_the_object():
    # a bowl-like object: the inside (core, far) and the outer wall in front of it, 6 cm apart in 3D
    depth = np.full((H, W), 1.3, np.float32)
    inside = _disc(r=25)
    wall = np.zeros((H, W), bool)
    wall[95:112, 75:126] = True
    depth[inside] = 1.0
    depth[wall] = 0.9
    mask = _dilate(inside | wall, 8)
    s = object_surface(depth, K, mask)
    inner = ~_dilate(~(inside | wall), 1)  # away from the silhouette, whose edge pixels always go
    assert s.keep[inside & inner & ~_dilate(wall, 1)].all() and s.keep[wall & inner & ~_dilate(inside, 1)].all()
    assert not (s.keep & ~(inside | wall)).any()


def test_small_object_inside_a_wide_bleed_is_not_replaced_by_the_ring():
    depth, obj = _scene()
    small = _disc(r=6)
    depth[obj & ~small] = 0.9  # only a small object remains
    mask = _dilate(small, 10)  # the ring is wider than the object
    s = object_surface(depth, K, mask)
    assert s.keep[small].any() and not (s.keep & ~small).any()


def test_empty_and_depthless_masks_and_bad_shapes():
    depth, obj = _scene()
    s = object_surface(depth, K, np.zeros((H, W), bool))
    assert s.seed == "none" and s.num_kept == 0 and not s.keep.any()
    nan = np.full((H, W), np.nan, np.float32)
    s = object_surface(nan, K, obj)
    assert s.seed == "none" and s.num_depth == 0 and s.num_kept == 0
    assert s.as_dict()["seed"] == "none"
    with pytest.raises(ValueError, match="differ in shape"):
        object_surface(depth, K, obj[:10])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        object_surfaces(depth, K, obj)
    with pytest.raises(ValueError, match="core_fraction"):
        SurfaceOptions(core_fraction=1.5)


def test_batched_surfaces_match_single_ones_and_core_is_inside():
    depth, obj = _scene()
    other = _disc(cx=30, cy=30, r=8)
    masks = np.stack([_dilate(obj, 10), other])
    batch = object_surfaces(depth, K, masks)
    for m, s in zip(masks, batch):
        assert np.array_equal(s.keep, object_surface(depth, K, m).keep)
    core = mask_core(_dilate(obj, 10), 0.5)
    assert core.any() and not (core & ~obj).any()
    pts = core_points(depth, K, _dilate(obj, 10))
    assert len(pts) == core.sum() and pts[:, 2].max() < 0.7
    assert core_points(depth, K, np.zeros((H, W), bool)).shape == (0, 3)


def test_with_silhouette_adds_thin_parts_that_the_surface_drops_but_no_background_or_neighbour():
    from selfpose_ros.geometry.instance_surface import with_silhouette

    depth, obj = _scene()
    bar = np.zeros((H, W), bool)
    bar[79:81, 125:140] = True  # a 2-pixel handle sticking out of the dome to the right
    loose = np.zeros((H, W), bool)
    loose[79:81, 62:73] = True  # a part beyond a 2-pixel gap on the left, 1 cm from the dome's edge
    other = np.zeros((H, W), bool)
    other[60:100, 40:46] = True  # a neighbour 12 cm behind that the bleeding mask takes in
    gap = np.zeros((H, W), bool)
    gap[79:81, 73:75] = True
    depth[bar | loose] = 0.63
    depth[other] = 0.75
    mask = _dilate(obj | bar | loose, 3) | other
    s = object_surface(depth, K, mask)
    assert not (s.keep & bar).any()  # all silhouette: the surface drops it
    far = depth_discontinuities(depth, far_side_only=True)
    both = depth_discontinuities(depth)
    assert (far <= both).all() and not far[bar].any() and both[bar].all()
    grown = with_silhouette(depth, K, mask, s.keep, far)
    assert (grown & bar).sum() >= 0.9 * bar.sum() and (grown & loose).sum() >= 0.9 * loose.sum()
    assert not (grown & other).any()
    assert not (grown & (depth > 0.8)).any()  # no background
    assert (grown >= s.keep).all()
    # the support plane's points stay out: a plane just below the bar takes it
    plane = Plane(np.array([0.0, -1.0, 0.0]), 0.0)
    bar_y = float(backproject_np(depth, K, bar)[:, 1].max())
    low = with_silhouette(depth, K, mask, s.keep, far, plane=Plane(plane.normal, bar_y + 0.001))
    assert not (low & bar).any()
    assert with_silhouette(depth, K, np.zeros_like(mask), np.zeros_like(mask), far).sum() == 0
