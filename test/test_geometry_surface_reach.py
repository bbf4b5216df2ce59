"""Surfaces that reach beyond masks falling short of the silhouette: the object's edges back, no background."""

import numpy as np
import pytest
from surface_scenes import H, K, W
from surface_scenes import dilate as _dilate
from surface_scenes import disc as _disc
from surface_scenes import dome_scene as _scene

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Instance
from selfpose_ros.geometry.instance_surface import depth_discontinuities, object_surface, object_surfaces
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.geometry.support_plane import Plane
from selfpose_ros.geometry.surface_reach import ReachOptions, reach_masks, reach_surface, reach_surfaces
from selfpose_ros.inference.instance_geometry import frame_geometry


def _reached(depth, mask, options, plane=None):
    return reach_surfaces(depth, K, mask[None], object_surfaces(depth, K, mask[None], plane=plane), plane=plane,
                          options=options)


def test_an_eroded_mask_reached_out_recovers_the_object_and_no_background():
    depth, obj = _scene()
    eroded = obj & ~_dilate(~obj, 4)  # the segmenter fell 4 px short of the silhouette
    short = object_surface(depth, K, eroded)
    assert (short.keep & obj).sum() < 0.8 * obj.sum()
    reached = reach_masks(eroded[None], 6)[0]
    assert (reached & ~eroded).any() and not (eroded & ~reached).any()
    s = reach_surface(depth, K, short, eroded, reached, edges=depth_discontinuities(depth),
                      options=ReachOptions(reach_px=6))
    assert not (s.keep & ~obj).any()  # the wall behind the object stays out
    assert (s.keep & obj).sum() >= 0.9 * obj.sum() and s.num_kept == s.keep.sum()
    assert ((s.keep & eroded) == short.keep).all()  # what the mask holds is decided as without the reach


def test_reach_grows_onto_no_other_instance():
    a = _disc(60, 80, 20)
    b = _disc(104, 80, 22)  # 2 px apart
    out = reach_masks(np.stack([a, b]), 5)
    assert not (out[0] & b).any() and not (out[1] & a).any()
    assert (out[0] & ~a).sum() > 0 and (out[1] & ~b).sum() > 0
    assert (reach_masks(np.stack([a, b]), 0) == np.stack([a, b])).all()
    with pytest.raises(ValueError):
        ReachOptions(reach_px=-1)


def test_frame_geometry_reaches_through_its_options():
    depth, obj = _scene()
    eroded = obj & ~_dilate(~obj, 4)
    frame = RGBDFrame(np.zeros((H, W, 3), np.uint8), depth, eroded.astype(np.int32) * 1001, K)
    inst = [Instance(1001, "bowl", 1, eroded, (75, 55, 125, 105))]
    plain = frame_geometry(frame, inst, use_support_plane=False)
    far = frame_geometry(frame, inst, use_support_plane=False, reach=ReachOptions(reach_px=6))
    assert (far.masks[0] == eroded).all()  # the mask itself is kept
    assert far.surfaces[0].num_kept > 1.2 * plain.surfaces[0].num_kept and not (far.surfaces[0].keep & ~obj).any()
    assert len(far.handle_points(frame, 0)) > len(plain.handle_points(frame, 0))


def test_the_reach_adds_no_piece_of_its_own():
    depth, obj = _scene()
    eroded = obj & ~_dilate(~obj, 4)
    clutter = _disc(100, 80 + 25 + 6, 3) & ~obj  # a small thing just below the object, nearer than its edge
    depth[clutter] = 0.63
    plain, = object_surfaces(depth, K, eroded[None])
    far, = _reached(depth, eroded, ReachOptions(reach_px=8))
    assert far.num_kept > plain.num_kept * 1.2 and not (far.keep & ~obj).any()
    grown = object_surface(depth, K, reach_masks(eroded[None], 8)[0])  # the grown mask as a mask: the clutter joins
    assert (grown.keep & clutter).any()


def test_background_bridged_to_the_object_stays_out_beyond_the_reach():
    depth, obj = _scene()
    # a ramp of depths with no discontinuity from the object's lower edge (0.64 m) out to 0.76 m, 10 px long
    rows = np.arange(80 + 22, 80 + 40)
    depth[np.ix_(rows, np.arange(97, 104))] = np.linspace(0.64, 0.76, len(rows), dtype=np.float32)[:, None]
    eroded = obj & ~_dilate(~obj, 2)
    plain, = object_surfaces(depth, K, eroded[None])
    far, = _reached(depth, eroded, ReachOptions(reach_px=12))
    bridge = np.zeros_like(obj)
    bridge[np.ix_(rows, np.arange(97, 104))] = True
    assert (far.keep & bridge & ~eroded).any()  # the ramp's start is within reach ...
    added = backproject_np(depth, K, far.keep & ~eroded)
    assert added[:, 2].max() < 0.70  # ... its far end is not: it is farther from the object than the reach spans


def test_table_beyond_the_mask_stays_out_even_when_read_a_centimetre_off_its_plane():
    # a dome standing on a table (plane z = 0.8 m, facing the camera), continuous with it at its rim; beside it
    # the noisy camera reads a patch of table 1.2 cm too near, a gentle ramp with no depth edge
    yy, xx = np.mgrid[:H, :W]
    obj = _disc()
    rho2 = ((xx - 100) ** 2 + (yy - 80) ** 2) / 25.0**2
    depth = np.full((H, W), 0.8, np.float32)
    depth[obj] = (0.8 - 0.12 * (1 - rho2))[obj]
    patch = ~obj & (xx >= 100) & (np.abs(yy - 80) < 8) & (xx < 140)
    depth[patch] = 0.788
    depth[~obj & (xx >= 100) & (np.abs(yy - 80) < 8) & (xx >= 140) & (xx < 152)] = 0.788 + 0.001 * (
        xx[~obj & (xx >= 100) & (np.abs(yy - 80) < 8) & (xx >= 140) & (xx < 152)] - 139)
    plane = Plane(np.array([0.0, 0.0, -1.0]), 0.8)  # signed distance 0.8 - z: the height above the table
    eroded = obj & ~_dilate(~obj, 4)
    far, = _reached(depth, eroded, ReachOptions(reach_px=8), plane=plane)
    assert (far.keep & ~eroded & obj).any()  # the dome's edge comes back ...
    assert not (far.keep & patch).any()  # ... but not the table, though it reads 1.2 cm above its plane
    loose, = _reached(depth, eroded, ReachOptions(reach_px=8, plane_margin_m=0.006), plane=plane)
    assert (loose.keep & patch).any()  # with the mask's own 6 mm margin it would have joined


def test_fusion_fuses_only_the_kept_pixels_inside_the_mask():
    from selfpose_ros.inference.fusion_points import object_points
    from selfpose_ros.pose_types import ObjectPoseEstimate

    depth, obj = _scene()
    eroded = obj & ~_dilate(~obj, 4)
    surface, = _reached(depth, eroded, ReachOptions(reach_px=6))
    assert (surface.keep & ~eroded).any()  # the surface reached beyond the mask ...
    frame = RGBDFrame(np.zeros((H, W, 3), np.uint8), depth, eroded.astype(np.int32), K)
    est = ObjectPoseEstimate("bowl", 1, np.eye(3), np.array([0.0, 0.0, 0.62]), 0.1, np.array([0.1, 0.05, 0.1]),
                             extras={"surface_keep": surface.keep})
    pts = object_points(frame, eroded, est, max_points=100_000)
    assert len(pts) == int((surface.keep & eroded).sum())  # ... and fusion takes only what the mask holds
