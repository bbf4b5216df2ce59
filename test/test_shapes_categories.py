"""Category shape library: 100 random instances per category are valid canonical meshes with the declared symmetry."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from selfpose_ros.conventions import CATEGORIES, SYMMETRY, mirror_matrix
from selfpose_ros.shapes.registry import CATEGORY_SHAPES, category_shape, mean_instance, sample_instance

INSTANCES = 100
POINTS = 2000
RESOLUTION = 16  # coarse meshes keep the test fast; the generators are resolution-independent
SYMMETRIC_MAX = 0.045  # p99 of nearest-neighbour distances (canonical units, diagonal 1) under a true symmetry
ASYMMETRIC_MIN = 0.055  # ... under a transform that is not a symmetry of the category

ROT_Y = {deg: Rotation.from_euler("y", deg, degrees=True).as_matrix() for deg in (37, 90, 180)}
MIRROR_X, MIRROR_Z = np.diag([-1.0, 1.0, 1.0]), np.diag([1.0, 1.0, -1.0])


def p99_chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """99th percentile of the two-way nearest-neighbour distances between point sets."""
    da, _ = cKDTree(b).query(a)
    db, _ = cKDTree(a).query(b)
    return float(np.percentile(np.concatenate([da, db]), 99))


def symmetric_and_not(category: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Transforms that must map the category onto itself, and transforms that must not."""
    kind = SYMMETRY[category]
    if kind == "continuous_y":
        return [ROT_Y[37], ROT_Y[90], MIRROR_X, MIRROR_Z], []
    if kind in ("mirror_x", "mirror_z"):
        other = MIRROR_Z if kind == "mirror_x" else MIRROR_X
        return [mirror_matrix(category)], [ROT_Y[90], other]
    return [], [ROT_Y[90], ROT_Y[180], MIRROR_X, MIRROR_Z]


def test_library_covers_the_conventions() -> None:
    assert set(CATEGORY_SHAPES) == set(CATEGORIES)
    with pytest.raises(ValueError, match="no shape generator"):
        category_shape("teapot")


@pytest.mark.parametrize("category", CATEGORIES)
def test_random_instances_are_canonical_and_symmetric(category: str) -> None:
    rng = np.random.default_rng(2024)
    symmetric, asymmetric = symmetric_and_not(category)
    extents = []
    for i in range(INSTANCES):
        inst = sample_instance(category, rng, resolution=RESOLUTION)
        mesh = inst.mesh
        assert mesh.is_watertight and mesh.is_winding_consistent, f"{category} #{i} is not a closed surface"
        assert mesh.volume > 0, f"{category} #{i} has inward normals"
        assert mesh.body_count == 1, f"{category} #{i} falls apart into {mesh.body_count} bodies"
        lo, hi = mesh.bounds
        assert abs(np.linalg.norm(hi - lo) - 1.0) < 0.01
        np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-6)
        assert len(inst.face_parts) == len(mesh.faces)
        assert 0 <= inst.face_parts.min() and inst.face_parts.max() < len(inst.part_names)
        extents.append(hi - lo)
        p, _ = trimesh.sample.sample_surface(mesh, POINTS, seed=i)
        for M in symmetric:
            assert p99_chamfer(p, p @ M.T) < SYMMETRIC_MAX, f"{category} #{i} breaks its symmetry"
        for M in asymmetric:
            assert p99_chamfer(p, p @ M.T) > ASYMMETRIC_MIN, f"{category} #{i} is unexpectedly symmetric"
    # Real intra-class variation: the box proportions spread.
    ratios = np.array([e[1] / max(e[0], e[2]) for e in extents])
    assert ratios.max() / ratios.min() > 1.3


@pytest.mark.parametrize("category", CATEGORIES)
def test_metric_scale_gives_real_sizes(category: str) -> None:
    inst = mean_instance(category, resolution=RESOLUTION)
    lo, hi = inst.scale_range()
    axis = inst.metric.axis
    assert lo * inst.extents[axis] == pytest.approx(inst.metric.low)
    assert hi * inst.extents[axis] == pytest.approx(inst.metric.high)
    s = inst.sample_scale(np.random.default_rng(0))
    assert lo <= s <= hi
    assert 0.02 < inst.metric.low < inst.metric.high < 0.5  # tabletop objects, metres


def test_canonical_axes_mean_what_the_docs_say() -> None:
    mug = mean_instance("mug", resolution=RESOLUTION)
    centres = mug.mesh.triangles_center
    handle = centres[mug.face_parts == mug.part_names.index("handle")]
    cup = centres[mug.face_parts != mug.part_names.index("handle")]
    assert handle[:, 0].min() > cup[:, 0].mean()
    assert handle[:, 0].max() == pytest.approx(mug.mesh.bounds[1, 0], abs=0.02)
    assert abs(handle[:, 2].mean()) < 0.01  # the handle lies in the z = 0 mirror plane
    laptop = mean_instance("laptop", resolution=RESOLUTION)
    hinge = laptop.part_names.index("hinge")
    hinge_faces = laptop.mesh.triangles_center[laptop.face_parts == hinge]
    spread = hinge_faces.max(axis=0) - hinge_faces.min(axis=0)
    assert spread[0] > 5 * max(spread[1], spread[2])  # hinge axis along X
    camera = mean_instance("camera", resolution=RESOLUTION)
    lens = camera.mesh.triangles_center[camera.face_parts == camera.part_names.index("lens")]
    assert lens[:, 2].max() > camera.mesh.bounds[1, 2] - 0.05  # the lens reaches the +Z end


def test_bad_parameters_are_rejected() -> None:
    shape = category_shape("bottle")
    params = shape.mean_params()
    params["neck_radius"] = 5.0
    with pytest.raises(ValueError, match="outside"):
        shape.check_params(params)
    with pytest.raises(ValueError, match="missing"):
        shape.check_params({})
