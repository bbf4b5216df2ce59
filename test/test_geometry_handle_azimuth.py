"""The mug's handle found in its observed points: the body axis fit, the handle's azimuth, and the turn of a
standing mug's pose to face it (both back-ends run it after their sizing)."""

import numpy as np
import pytest
from builders import seen_surface

from selfpose_ros.geometry.axis_scales import AxisScaleFit
from selfpose_ros.geometry.body_axis import fit_body_axis, horizontal_basis
from selfpose_ros.geometry.handle_azimuth import (
    Protrusion,
    face_direction,
    find_protrusion,
    hidden_protrusion_box,
    measured_body_box,
    voted_direction,
)
from selfpose_ros.geometry.rotations import relative_rotation_angle_np, rotation_about_y_np
from selfpose_ros.inference import handle_yaw
from selfpose_ros.inference.handle_yaw import handle_extras, turn_to_handle
from selfpose_ros.inference.instance_geometry import SizedPose
from selfpose_ros.shapes.handle import handle_seen_in_points
from selfpose_ros.shapes.registry import mean_instance
from selfpose_ros.train.pseudo_labels import face_fused_handle

SCALE = 0.12  # metres per canonical unit
#: The camera looks along +z with y down, 0.5 m away, 40 degrees down onto the table; canonical +Y is up.
TILT = np.radians(40.0)
DOWN = np.array([[1.0, 0, 0], [0, np.cos(TILT), -np.sin(TILT)], [0, np.sin(TILT), np.cos(TILT)]])
T = np.array([0.0, 0.0, 0.5])


@pytest.fixture(scope="module")
def mug():
    inst = mean_instance("mug")
    pts = np.asarray(inst.mesh.sample(60000, return_index=False, seed=0)) * SCALE
    lo, hi = pts.min(0), pts.max(0)
    return pts - 0.5 * (lo + hi), (hi - lo)  # box-centred canonical points (metres), box size


def _pose(yaw_deg: float) -> np.ndarray:
    """Canonical -> camera rotation of a standing mug turned by ``yaw_deg`` about its up axis (0: the handle to
    the right, -90: towards the camera, 90: away from it)."""
    return DOWN @ np.diag([1.0, -1.0, -1.0]) @ rotation_about_y_np(np.radians(yaw_deg))


def _view(mug, yaw_deg, noise=0.0, seed=0):
    pts, size = mug
    R = _pose(yaw_deg)
    seen = seen_surface(pts @ R.T + T, cell=0.0015, distance=0.5)
    return seen + np.random.default_rng(seed).normal(scale=noise, size=seen.shape), R, size


@pytest.mark.parametrize("yaw", [0.0, 40.0, -60.0, -90.0, -130.0, 180.0])
@pytest.mark.parametrize("noise", [0.0, 0.0015])
def test_a_visible_handle_is_found_at_its_azimuth(mug, yaw, noise):
    seen, R, size = _view(mug, yaw, noise)
    up = R[:, 1]
    axis = T + R[:, 0] * (0.5 * size[2] - 0.5 * size[0])
    h = float(T @ up)
    # a first guess of the axis 15 mm off, as from a fit at a wrong yaw
    found = find_protrusion(seen, up, axis + 0.015 * R[:, 2], 0.5 * size[2], h - size[1] / 2, h + size[1] / 2)
    assert found.found, found.reason
    e1, e2 = horizontal_basis(up)
    truth = np.arctan2(R[:, 0] @ e2, R[:, 0] @ e1)
    assert abs(np.degrees(np.angle(np.exp(1j * (found.azimuth - truth))))) < 5.0
    assert np.linalg.norm(found.axis.centre - [axis @ e1, axis @ e2]) < 0.003


@pytest.mark.parametrize("yaw", [90.0, 110.0])
def test_a_handle_behind_the_body_is_not_found(mug, yaw):
    seen, R, size = _view(mug, yaw, 0.0015)
    h = float(T @ R[:, 1])
    found = find_protrusion(seen, R[:, 1], T, 0.5 * size[2], h - size[1] / 2, h + size[1] / 2)
    assert not found.found and found.reason


def _edge_on(mug, yaw_deg, keep):
    """The view of a mug at ``yaw_deg`` with only ``keep`` of its handle's points (spread over those standing 8 mm
    or more out of the wall; none of the others within 3 mm of it): a handle whose depth the sensor mostly lost."""
    seen, R, size = _view(mug, yaw_deg, 0.001)
    axis = T + R[:, 0] * (0.5 * size[2] - 0.5 * size[0])
    up = R[:, 1]
    radial = seen - axis - np.outer((seen - axis) @ up, up)
    out = np.linalg.norm(radial, axis=1) - 0.5 * size[2]
    handle = np.flatnonzero(out > 0.003)
    clear = handle[out[handle] > 0.008]
    kept = clear[np.linspace(0, len(clear) - 1, keep).astype(int)]
    return np.delete(seen, np.setdiff1d(handle, kept), axis=0), R, size, axis


@pytest.mark.parametrize("yaw", [-90.0, -70.0])
def test_a_handle_facing_the_camera_edge_on_is_found_from_a_few_points_in_front(mug, yaw):
    """Facing the camera, the handle is a thin strip in front of the body: 4 points there are too few for the
    histogram, but they stand in front of the wall, where only a handle can: found with the viewer given."""
    seen, R, size, axis = _edge_on(mug, yaw, 4)
    h = float(T @ R[:, 1])
    args = (seen, R[:, 1], axis, 0.5 * size[2], h - size[1] / 2, h + size[1] / 2)
    assert not find_protrusion(*args).found
    found = find_protrusion(*args, viewer=np.zeros(3))
    assert found.found and found.reason == "faces the viewer"
    e1, e2 = horizontal_basis(R[:, 1])
    truth = np.arctan2(R[:, 0] @ e2, R[:, 0] @ e1)
    assert abs(np.degrees(np.angle(np.exp(1j * (found.azimuth - truth))))) < 12.0
    out, _ = turn_to_handle("mug", _sized(R @ rotation_about_y_np(np.pi), T, size), seen, R[:, 1])
    assert float(relative_rotation_angle_np(out.rotation, R)) < np.radians(12.0)


def test_a_few_points_out_of_the_wall_at_the_side_are_not_a_handle_facing_the_camera(mug):
    seen, R, size, axis = _edge_on(mug, 0.0, 4)  # the handle to the right, seen side-on, 4 of its points left
    h = float(T @ R[:, 1])
    found = find_protrusion(seen, R[:, 1], axis, 0.5 * size[2], h - size[1] / 2, h + size[1] / 2,
                            viewer=np.zeros(3))
    assert not found.found


def test_a_plain_cylinder_has_no_protrusion_and_too_few_points_give_no_axis():
    rng = np.random.default_rng(0)
    a = rng.uniform(-np.pi, 0.2, 3000)  # the side a camera sees
    y = rng.uniform(-0.05, 0.05, 3000)
    cyl = np.stack([0.04 * np.cos(a), y, 0.6 + 0.04 * np.sin(a)], 1) + rng.normal(scale=0.001, size=(3000, 3))
    up = np.array([0.0, 1.0, 0.0])
    found = find_protrusion(cyl, up, np.array([0.01, 0.0, 0.6]), 0.035, -0.05, 0.05)
    assert not found.found and found.axis is not None
    assert abs(np.median(found.axis.radii) - 0.04) < 0.002
    assert fit_body_axis(np.zeros((5, 2)), np.zeros(5), np.zeros(2), 0.04, 0.0, 0.1) is None


def test_a_flat_wall_gives_no_axis_and_leaves_the_box_as_sized():
    """A mask that bled onto a flat background gives a straight wall, whose circle fit runs away (a 75 m wide mug
    at realism heavy before ``plausible_axis``): no axis, and the sized box is kept."""
    rng = np.random.default_rng(0)
    wall = np.stack([rng.uniform(-0.04, 0.04, 1500), rng.uniform(-0.05, 0.05, 1500),
                     0.6 + rng.normal(scale=0.001, size=1500)], 1)
    up = np.array([0.0, -1.0, 0.0])
    found = find_protrusion(wall, up, np.array([0.0, 0.0, 0.64]), 0.04, -0.05, 0.05)
    assert not found.found and found.axis is None and "ran away" in found.reason
    R = np.diag([1.0, -1.0, -1.0])  # standing, canonical +Y up
    size = np.array([0.11, 0.1, 0.08])
    out, found = turn_to_handle("mug", _sized(R, np.array([0.0, 0.0, 0.64]), size), wall, up)
    assert found.axis is None and np.allclose(out.size, size[[0, 1, 2]])


def _sized(R, t, size):
    fit = AxisScaleFit(R, t, np.ones(3), 1.0, 1.0, 0)
    return SizedPose(R, t, np.asarray(size, float), fit)


@pytest.mark.parametrize("wrong", [90.0, 180.0, -35.0])
def test_a_standing_mug_at_a_wrong_yaw_is_turned_to_face_its_handle(mug, wrong):
    seen, R, size = _view(mug, 30.0, 0.001)
    R_wrong = R @ rotation_about_y_np(np.radians(wrong))
    start = size[[2, 1, 0]] if abs(wrong) == 90.0 else size  # a fit across the handle has its x and z swapped
    out, found = turn_to_handle("mug", _sized(R_wrong, T, start), seen, R[:, 1])
    assert found is not None and found.found
    assert float(relative_rotation_angle_np(out.rotation, R)) < np.radians(5.0)
    assert np.linalg.norm(out.translation - T) < 0.005
    assert np.allclose(out.size, size, rtol=0.05) and handle_extras(found) == {"handle_visible": True}


def test_turn_to_handle_leaves_other_categories_tilted_mugs_and_hidden_handles_alone(mug):
    seen, R, size = _view(mug, 30.0)
    sized = _sized(R, T, size)
    assert turn_to_handle("bowl", sized, seen, R[:, 1]) == (sized, None)
    assert turn_to_handle("mug", sized, seen, None) == (sized, None)
    tilted = R @ np.array([[1.0, 0, 0], [0, np.cos(0.4), -np.sin(0.4)], [0, np.sin(0.4), np.cos(0.4)]])
    assert turn_to_handle("mug", _sized(tilted, T, size), seen, R[:, 1])[1] is None
    hidden, R2, _ = _view(mug, 90.0)
    out, found = turn_to_handle("mug", _sized(R2, T, size), hidden, R2[:, 1])
    assert not found.found and handle_extras(found) == {"handle_visible": False}
    assert handle_extras(None) == {}


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_a_handle_not_found_is_placed_behind_the_body(mug, share, monkeypatch):
    """Not found, a handle most likely hides behind the body: +X turns away from the camera and the centre moves
    ``share`` of the way from the axis to where that handle would put it (all the way: exact for this mug)."""
    hidden, R, size = _view(mug, 90.0)  # the handle straight behind
    monkeypatch.setattr(handle_yaw, "HIDDEN_HANDLE_AWAY", share)
    out, found = turn_to_handle("mug", _sized(R, T, size), hidden, R[:, 1])
    assert not found.found and found.axis is not None
    assert float(relative_rotation_angle_np(out.rotation, R)) < np.radians(3.0)
    half = 0.5 * (size[0] - size[2])  # the box centre's offset from the body axis
    assert abs(np.linalg.norm(out.translation - T) - (1.0 - share) * half) < 0.004
    assert np.allclose(out.size, size, rtol=0.05)
    no_axis = Protrusion(False, float("nan"), 0, 0, None)
    kept = hidden_protrusion_box(R, T, size, no_axis, R[:, 1], share)  # no axis: nothing to place it by
    assert all(np.array_equal(a, b) for a, b in zip(kept, (R, T, size)))


def test_the_visibility_test_registers_the_points_to_the_body_first(mug):
    # a sensor whose depth sits 12 mm off the true pose (calibration) moves the body's wall into the handle's
    # part of the box: registered to the body first, a hidden handle stays hidden and a seen one seen
    hidden, R, size = _view(mug, 90.0)
    shifted = hidden + 0.012 * R[:, 0]  # 12 mm farther away, where the hidden handle is
    assert handle_seen_in_points(shifted, R, T, size, register=False)
    assert not handle_seen_in_points(shifted, R, T, size)
    seen, R1, _ = _view(mug, 0.0)
    assert handle_seen_in_points(seen + 0.012 * R1[:, 2], R1, T, size)


@pytest.mark.parametrize("yaw", [30.0, 90.0])
def test_the_mug_box_is_measured_from_its_body_axis(mug, yaw):
    """A sizing 20 % too wide across the handle and 15 % too short along it: the diameter comes from the fitted
    axis; a seen handle's reach gives the length (and the centre follows), a hidden one the prior's proportions."""
    seen, R, size = _view(mug, yaw, 0.001)
    wrong = size * np.array([0.85, 1.0, 1.2])
    out, found = turn_to_handle("mug", _sized(R, T, wrong), seen, R[:, 1])
    assert abs(out.size[2] / size[2] - 1.0) < 0.04 and out.size[1] == wrong[1]
    if yaw == 30.0:
        assert found.found and abs(out.size[0] / size[0] - 1.0) < 0.05
        assert np.linalg.norm(out.translation - T) < 0.004
    else:  # the handle behind the body
        # hidden: at least as long as the prior's proportions make a box that wide (the sizing's 15 % short is not)
        assert not found.found and out.size[0] == pytest.approx(out.size[2] * handle_yaw.prior_length_ratio("mug"))
        assert abs(out.size[0] / size[0] - 1.0) < 0.05
        assert np.linalg.norm(out.translation - T) < 0.5 * (size[0] - size[2]) + 0.004  # placed behind (see below)
    # no fitted axis (too few points): nothing is measured
    no_axis = Protrusion(False, float("nan"), 0, 0, None)
    t, s = measured_body_box(R, T, wrong, no_axis, R[:, 1])
    assert np.array_equal(t, T) and np.array_equal(s, wrong)


def _fused_views(mug, offsets_m):
    """A cloud fused over views around the mug (its box frame, canonical +Y up): each view's seen surface moved
    along its own camera ray by its depth error, as views whose depth disagree by millimetres fuse."""
    clouds = []
    for k, offset in enumerate(offsets_m):
        R = _pose(60.0 * k)  # the camera orbits: the mug turns by 60 degrees a view
        seen = seen_surface(mug[0] @ R.T + T, cell=0.0015, distance=0.5)
        seen = seen * (1.0 + offset / np.linalg.norm(seen, axis=1, keepdims=True))
        clouds.append((seen - T) @ R)  # back into the mug's frame
    return np.concatenate(clouds)


def test_a_fused_clouds_thick_wall_hides_the_handle_unless_the_scatter_sets_the_reach(mug):
    cloud = _fused_views(mug, np.random.default_rng(3).normal(scale=0.005, size=6))
    size = mug[1]
    up, axis = np.array([0.0, 1.0, 0.0]), np.array([0.5 * size[2] - 0.5 * size[0], 0.0, 0.0])
    args = (cloud, up, axis + [0.0, 0.0, 0.01], 0.5 * size[2], -size[1] / 2, size[1] / 2)
    thin_wall = find_protrusion(*args)
    thick_wall = find_protrusion(*args, wall_sigmas=3.0)
    assert not thin_wall.found and thin_wall.candidates > 2 * thin_wall.points, thin_wall  # wall points vote too
    assert thick_wall.found, thick_wall.reason
    e1, e2 = horizontal_basis(up)
    assert abs(np.degrees(np.angle(np.exp(1j * (thick_wall.azimuth - np.arctan2(e2[0], e1[0])))))) < 5.0


@pytest.mark.parametrize("start", [0.0, 120.0, -150.0])
def test_a_handle_not_found_faces_where_it_was_found_before(mug, start):
    """A static mug's handle seen in earlier views (``known``) and hidden now: the box turns about its body axis to
    face it, whatever the fit's yaw, and its centre stays on the axis; a handle in view wins over ``known``."""
    hidden, R, size = _view(mug, 60.0 + 50.0)  # the handle behind the body
    up = R[:, 1]
    axis = T + R[:, 0] * (0.5 * size[2] - 0.5 * size[0])
    R_wrong = R @ rotation_about_y_np(np.radians(start))  # the box about the same body axis, at the fit's yaw
    wrong = _sized(R_wrong, axis + R_wrong[:, 0] * 0.5 * (size[0] - size[2]), size)
    out, found = turn_to_handle("mug", wrong, hidden, up, place_unseen=False, known=R[:, 0] + 0.2 * up)
    assert not found.found
    assert float(relative_rotation_angle_np(out.rotation, R)) < np.radians(3.0)
    assert np.linalg.norm(out.translation - T) < 0.006 and np.allclose(out.size, size, rtol=0.08)
    seen, R_seen, _ = _view(mug, 30.0, 0.001)  # in view: found, and ``known`` (pointing elsewhere) is not used
    out, found = turn_to_handle("mug", _sized(R_seen, T, size), seen, R_seen[:, 1], known=-R_seen[:, 0])
    assert found.found and float(relative_rotation_angle_np(out.rotation, R_seen)) < np.radians(5.0)


def test_face_direction_turns_about_the_body_axis_and_ignores_a_vertical_direction(mug):
    _, R, size = _view(mug, 0.0)
    up = R[:, 1]
    axis = T + R[:, 0] * (0.5 * size[2] - 0.5 * size[0])
    R2, t2, s2 = face_direction(R, T, size, -R[:, 0], up)  # half a turn
    assert np.allclose(R2[:, 0], -R[:, 0]) and np.allclose(R2[:, 1], up)
    assert np.allclose(t2, axis - R[:, 0] * 0.5 * (size[0] - size[2])) and np.allclose(s2, size)
    kept = face_direction(R, T, size, up, up)
    assert all(np.array_equal(a, b) for a, b in zip(kept, (R, T, size)))


def test_a_trajectory_pseudo_label_faces_its_fused_clouds_handle(mug):
    """The trainer's trajectory labels search the fused cloud as the fused tracks do: a standing box at a wrong yaw
    turns to the handle and its centre moves onto the fitted body axis; a leaning box, or a cloud without a
    handle, keeps the fit."""
    cloud = _fused_views(mug, np.random.default_rng(3).normal(scale=0.005, size=6))
    size, up = mug[1], np.array([0.0, 1.0, 0.0])
    wrong = rotation_about_y_np(np.radians(35.0))  # a prior's ICP yaw drifts 20-27 deg on such clouds
    R, t, ext = face_fused_handle(wrong, np.zeros(3), size, cloud, up)
    assert float(relative_rotation_angle_np(R, np.eye(3))) < np.radians(5.0)
    assert np.linalg.norm(t) < 0.005 and np.allclose(ext, size, rtol=0.08)
    leaning = wrong @ np.array([[1.0, 0, 0], [0, np.cos(0.4), -np.sin(0.4)], [0, np.sin(0.4), np.cos(0.4)]])
    kept = face_fused_handle(leaning, np.zeros(3), size, cloud, up)
    assert all(np.array_equal(a, b) for a, b in zip(kept, (leaning, np.zeros(3), size)))
    body = cloud[cloud[:, 0] < 0.5 * size[2] - 0.5 * size[0] + 0.5 * size[2] + 0.002]  # the handle cut off
    kept = face_fused_handle(wrong, np.zeros(3), size, body, up)
    assert all(np.array_equal(a, b) for a, b in zip(kept, (wrong, np.zeros(3), size)))


def test_voted_direction_is_the_circular_mean_of_the_votes_near_their_median():
    up = np.array([0.0, 1.0, 0.0])
    e1, e2 = horizontal_basis(up)
    at = [np.cos(a) * e1 + np.sin(a) * e2 + 0.3 * up for a in np.radians([178.0, -178.0, 176.0, 90.0])]
    x = voted_direction(np.array(at), up, 3, 15.0)  # the +-180 deg seam; the vote at 90 deg is left out
    assert abs(x @ up) < 1e-12 and x @ -e1 > np.cos(np.radians(1.5))
    assert voted_direction(np.array(at[:2]), up, 3, 15.0) is None  # too few
    assert voted_direction(np.array(at[:2] + at[3:]), up, 3, 15.0) is None  # too few agree


def test_a_voted_handle_wins_over_the_search_and_a_given_direction_is_not_placed_behind(mug):
    seen, R, size = _view(mug, 30.0, 0.001)
    R_voted = R @ rotation_about_y_np(np.radians(8.0))  # the views agree on a handle 8 degrees from the found one
    out, found = turn_to_handle("mug", _sized(R, T, size), seen, R[:, 1], place_unseen=False, voted=R_voted[:, 0])
    assert found.found and float(relative_rotation_angle_np(out.rotation, R_voted)) < np.radians(0.5)
    hidden, R2, _ = _view(mug, 110.0)  # the handle behind: placing it would turn +X away from the camera
    R_known = R2 @ rotation_about_y_np(np.radians(-60.0))
    out, found = turn_to_handle("mug", _sized(R2, T, size), hidden, R2[:, 1], known=R_known[:, 0])
    assert not found.found and float(relative_rotation_angle_np(out.rotation, R_known)) < np.radians(0.5)
