"""An upright template stood on the support plane from its mask alone (objects that return no depth)."""

import cv2
import numpy as np
import pytest

from selfpose_ros.geometry.standing_silhouette import fit_standing_silhouette, hull_vertices, plane_hits
from selfpose_ros.shapes.priors import load_prior

K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
TILT = np.radians(40.0)
#: The table's up direction in the camera frame (y down, looking 40 degrees down onto it), 0.45 m below.
UP = np.array([0.0, -np.cos(TILT), -np.sin(TILT)])
OFFSET = 0.45


def _render(category: str, size: np.ndarray, foot: np.ndarray, yaw: float = 0.3) -> np.ndarray:
    """The mask (240, 320) of the category's prior mesh at ``size`` standing at ``foot`` on the table, turned
    by ``yaw`` from facing away from the camera."""
    v, f = load_prior(category)
    v = v - 0.5 * (v.min(0) + v.max(0))
    v = v / (v.max(0) - v.min(0)) * size
    away = foot - UP * (foot @ UP)
    away /= np.linalg.norm(away)
    x = np.cos(yaw) * away + np.sin(yaw) * np.cross(UP, away)
    R = np.stack((x, UP, np.cross(x, UP)), axis=1)
    pts = v @ R.T + foot + UP * 0.5 * size[1]
    uv = pts @ K.T
    uv = np.round(uv[:, :2] / uv[:, 2:3] * 16).astype(np.int32)
    mask = np.zeros((240, 320), np.uint8)
    for tri in f:
        cv2.fillConvexPoly(mask, uv[tri], 1, cv2.LINE_8, 4)
    return mask.astype(bool)


def _foot(u: float, v: float) -> np.ndarray:
    return plane_hits(np.array([[u, v]]), K, UP, OFFSET)[0]


@pytest.mark.parametrize("category,size", [("can", [0.07, 0.12, 0.07]), ("bottle", [0.07, 0.24, 0.07]),
                                           ("bowl", [0.16, 0.06, 0.16]), ("mug", [0.12, 0.09, 0.085])])
def test_an_object_without_depth_is_stood_where_it_is_and_sized(category, size):
    size = np.array(size)
    foot = _foot(170.0, 160.0)
    mask = _render(category, size, foot, 0.0 if category == "mug" else 0.3)  # the mug's handle hidden behind
    fit = fit_standing_silhouette(mask, K, UP, OFFSET, load_prior(category)[0])
    assert not isinstance(fit, str), fit
    assert fit.iou > 0.9
    centre = foot + UP * 0.5 * size[1]
    assert np.linalg.norm(fit.translation - centre) < 0.15 * size[1]  # distance too, from the plane alone
    assert np.all(np.abs(np.log(fit.size[1:] / size[1:])) < np.log(1.12))
    assert abs(fit.rotation[:, 1] @ UP - 1.0) < 1e-9  # standing
    assert abs(np.linalg.det(fit.rotation) - 1.0) < 1e-9
    away = fit.translation - UP * (fit.translation @ UP)
    assert fit.rotation[:, 0] @ away / np.linalg.norm(away) > 0.999  # +X (a hidden handle) faces away


def test_a_farther_object_of_the_same_pixels_is_not_the_same_size():
    """The plane, not a typical size, sets the distance: the same can farther away is fitted bigger in pixels'
    terms, i.e. at its true size."""
    size = np.array([0.07, 0.12, 0.07])
    near, far = (fit_standing_silhouette(_render("can", size, _foot(160.0, v)), K, UP, OFFSET, load_prior("can")[0])
                 for v in (190.0, 110.0))
    assert np.linalg.norm(far.translation) > np.linalg.norm(near.translation) + 0.1
    for fit in (near, far):
        assert abs(fit.size[1] / 0.12 - 1.0) < 0.12


def test_ignored_pixels_let_a_cut_object_keep_its_size():
    size = np.array([0.07, 0.2, 0.07])
    mask = _render("bottle", size, _foot(160.0, 170.0))
    ignore = np.zeros_like(mask)
    ignore[:, 170:] = True  # an occluder in front of its right quarter
    fit = fit_standing_silhouette(mask & ~ignore, K, UP, OFFSET, load_prior("bottle")[0], ignore=ignore)
    assert abs(fit.size[0] / 0.07 - 1.0) < 0.1 and abs(fit.size[1] / 0.2 - 1.0) < 0.1
    cut = fit_standing_silhouette(mask & ~ignore, K, UP, OFFSET, load_prior("bottle")[0])
    assert cut.size[0] < 0.8 * 0.07  # held against the occluder's pixels, the bottle shrinks to what shows


def test_no_fit_without_a_plane_in_view_or_a_mask():
    v = load_prior("can")[0]
    assert "pixels" in fit_standing_silhouette(np.zeros((240, 320), bool), K, UP, OFFSET, v)
    sky = np.zeros((240, 320), bool)
    sky[0:5, 150:160] = True  # a level camera: rays above the horizon never meet the floor
    assert "plane" in fit_standing_silhouette(sky, K, np.array([0.0, -1.0, 0.0]), OFFSET, v)
    assert len(hull_vertices(v)) < len(v)
