"""Renderer and sensor model: depth, segmentation and ground truth agree with the geometry."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
import trimesh

from selfpose_ros.conventions import decode_label, encode_label
from selfpose_ros.geometry.transforms import rigid
from selfpose_ros.shapes.registry import sample_instance
from selfpose_ros.sim.appearance import object_materials, random_light
from selfpose_ros.sim.depth_sensor import DepthSensorModel
from selfpose_ros.sim.pinhole import PinholeCamera
from selfpose_ros.sim.raycaster import SceneRaycaster
from selfpose_ros.sim.scene import R_CANONICAL_UPRIGHT, EnvironmentPart, PlacedObject, Scene, SceneConfig
from selfpose_ros.sim.shading import Shader
from selfpose_ros.sim.simulator import SimConfig, SimScene, ground_truth
from selfpose_ros.sim.textures import solid_material


@pytest.fixture(scope="module")
def sim() -> SimScene:
    config = SimConfig(width=320, height=240, num_frames=40, scene=SceneConfig(min_objects=4, max_objects=5))
    return SimScene(config, seed=11)


def wall_part(distance: float) -> EnvironmentPart:
    """A large wall facing -x whose front face is ``distance`` metres from the origin."""
    wall = trimesh.creation.box(extents=(0.02, 20.0, 20.0))
    wall.apply_translation((distance + 0.01, 0.0, 0.0))
    return EnvironmentPart("wall", wall, solid_material(np.array([0.5, 0.5, 0.5])))


def wall_scene(distance: float) -> tuple[SceneRaycaster, Shader]:
    """A camera at the origin of map looking along +x at a large wall ``distance`` metres away."""
    scene = Scene([], [wall_part(distance)],
                  random_light(np.random.default_rng(0)), table_top_z=0.0, target=np.zeros(3),
                  region_radius=0.1, room_half_size=10.0)
    camera = PinholeCamera.from_fov(320, 240, 69.0)
    raycaster = SceneRaycaster(scene, camera)
    return raycaster, Shader(scene, raycaster)


LOOK_ALONG_X = np.array([[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


@pytest.mark.parametrize("distance", [0.8, 2.5])
def test_plane_renders_at_the_right_depth(distance: float) -> None:
    raycaster, shader = wall_scene(distance)
    hits = raycaster.cast(LOOK_ALONG_X)
    np.testing.assert_allclose(hits.depth, distance, atol=1e-5)  # z-depth of a fronto-parallel plane
    _, cos_inc = shader.shade(hits)
    sensor = DepthSensorModel()
    shape = (raycaster.camera.height, raycaster.camera.width)
    depth = sensor.apply(hits.depth.reshape(shape), cos_inc.reshape(shape), raycaster.camera.fx,
                         np.random.default_rng(1))
    valid = np.isfinite(depth)
    assert valid.mean() > 0.95  # only random dropout and grazing edges are lost
    err = depth[valid] - distance
    sigma = float(sensor.sigma(distance))
    step = distance**2 * sensor.disparity_step / (raycaster.camera.fx * sensor.baseline)  # disparity quantum
    assert abs(err.mean()) < 0.2 * sigma + step
    assert np.abs(err).max() < 6 * sigma + step
    assert 0.5 * sigma < err.std() < 1.5 * np.hypot(sigma, step)
    ideal = DepthSensorModel.ideal().apply(hits.depth.reshape(shape), cos_inc.reshape(shape),
                                           raycaster.camera.fx, np.random.default_rng(1))
    np.testing.assert_allclose(ideal, distance, atol=1e-5)


def test_sensor_drops_out_of_range_grazing_and_edges() -> None:
    sensor = DepthSensorModel(min_range=0.3, max_range=3.0, random_dropout=0.0)
    depth = np.full((40, 40), 1.0, np.float32)
    depth[:, :10] = 0.1  # too close
    depth[:, 30:] = 5.0  # too far
    cos_inc = np.ones_like(depth)
    cos_inc[:5, 10:30] = np.cos(np.deg2rad(85.0))  # grazing
    out = sensor.apply(depth, cos_inc, 300.0, np.random.default_rng(0))
    assert np.isnan(out[:, :10]).all() and np.isnan(out[:, 30:]).all()
    assert np.isnan(out[:5, 10:30]).all()
    assert np.isfinite(out[10:, 15:25]).all()
    # Next to the 1 m -> 5 m jump most readings are lost.
    assert np.isnan(out[10:, 29]).mean() > 0.3
    with pytest.raises(ValueError, match="shape"):
        sensor.apply(depth, cos_inc[:3], 300.0, np.random.default_rng(0))
    with pytest.raises(ValueError):
        DepthSensorModel(min_range=2.0, max_range=1.0)


def test_projected_vertices_land_on_their_label(sim: SimScene) -> None:
    checked = 0
    for index in (0, 20, 39):
        frame = sim.render(index)
        h, w = frame.segmentation.shape
        for obj, truth in zip(sim.scene.objects, frame.objects, strict=True):
            assert decode_label(truth.label) == (truth.category, truth.instance_id)
            pts = truth.scale * np.asarray(obj.shape.mesh.vertices) @ truth.rotation.T + truth.translation
            pts = pts[pts[:, 2] > 0.05]
            uv = np.rint(frame.camera.project(pts)).astype(int)
            inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
            pts, uv = pts[inside], uv[inside]
            rendered = frame.depth_true_m[uv[:, 1], uv[:, 0]]
            visible = np.abs(rendered - pts[:, 2]) < 0.003
            if visible.sum() < 20:
                continue
            labels = frame.segmentation[uv[visible, 1], uv[visible, 0]]
            assert (labels == truth.label).mean() > 0.97, f"{truth.category} vertices land on other labels"
            checked += 1
    assert checked >= 5


def test_backprojected_depth_lies_on_the_mesh(sim: SimScene) -> None:
    frame = sim.render(10)
    points = frame.camera.backproject(np.nan_to_num(frame.depth_m))
    points_true = frame.camera.backproject(frame.depth_true_m)
    checked = 0
    for obj, truth in zip(sim.scene.objects, frame.objects, strict=True):
        mask = (frame.segmentation == truth.label) & np.isfinite(frame.depth_m)
        if mask.sum() < 100:
            continue
        mesh = o3d.t.geometry.RaycastingScene()
        mesh.add_triangles(o3d.core.Tensor(np.asarray(obj.shape.mesh.vertices, np.float32)),
                           o3d.core.Tensor(np.asarray(obj.shape.mesh.faces, np.uint32)))
        for pts, limit in ((points[mask], 0.004), (points_true[mask], 0.0005)):
            canonical = (pts - truth.translation) @ truth.rotation / truth.scale
            dist = mesh.compute_distance(o3d.core.Tensor(canonical.astype(np.float32))).numpy() * truth.scale
            assert np.median(dist) < limit, f"{truth.category}: median {np.median(dist) * 1000:.2f} mm off the mesh"
        checked += 1
    assert checked >= 2


def test_ground_truth_is_consistent(sim: SimScene) -> None:
    frame = sim.render(5)
    assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == (240, 320, 3)
    assert frame.depth_mm.dtype == np.uint16 and frame.segmentation.dtype == np.int32
    np.testing.assert_array_equal(frame.depth_mm == 0, np.isnan(frame.depth_m))
    assert np.abs(frame.depth_mm[frame.depth_mm > 0] / 1000.0 - frame.depth_m[frame.depth_mm > 0]).max() <= 0.0005
    for obj, truth in zip(sim.scene.objects, frame.objects, strict=True):
        assert truth.visible_pixels == int((frame.segmentation == truth.label).sum())
        assert 0.0 <= truth.visibility <= 1.0 and truth.visible_pixels <= truth.unoccluded_pixels
        np.testing.assert_allclose(truth.size, truth.scale * obj.shape.extents)
        np.testing.assert_allclose(truth.rotation @ truth.rotation.T, np.eye(3), atol=1e-9)
        T = np.linalg.inv(frame.T_map_optical) @ obj.T_map_object
        np.testing.assert_allclose(truth.similarity_matrix()[:3, :3], truth.scale * T[:3, :3], atol=1e-9)
    labels = set(np.unique(frame.segmentation)) - {0}
    assert labels <= {o.label for o in frame.objects}


def test_visibility_drops_when_an_object_is_hidden() -> None:
    rng = np.random.default_rng(3)
    objects = []
    for category, x, y in (("can", 0.6, 0.0), ("bottle", 1.0, 0.0), ("bowl", 1.0, 1.2)):
        shape = sample_instance(category, rng, resolution=24)
        s = 0.1  # box diagonal 10 cm
        T = rigid(R_CANONICAL_UPRIGHT, np.array([x, y, 0.0]))
        objects.append(PlacedObject(category, 1, encode_label(category, 1), shape, s, T,
                                    object_materials(category, shape.part_names, rng)))
    scene = Scene(objects, [wall_part(3.0)], random_light(rng), 0.0, np.zeros(3), 0.3, 10.0)
    raycaster = SceneRaycaster(scene, PinholeCamera.from_fov(320, 240, 69.0))
    hits = raycaster.cast(LOOK_ALONG_X)
    can, bottle, bowl = ground_truth(scene, raycaster, hits, LOOK_ALONG_X)
    assert can.visibility == 1.0 and can.visible_pixels > 200
    assert 0.05 < bottle.visibility < 0.7  # mostly behind the can
    assert bottle.visible_pixels < bottle.unoccluded_pixels
    assert bowl.visibility == 0.0 and bowl.unoccluded_pixels == 0  # outside the field of view


def test_same_seed_same_frames() -> None:
    config = SimConfig(width=96, height=72, num_frames=6)
    a, b, c = SimScene(config, seed=5), SimScene(config, seed=5), SimScene(config, seed=6)
    fa3 = a.render(3)
    a.render(0)
    for x, y in ((fa3, b.render(3)), (a.render(0), b.render(0))):
        np.testing.assert_array_equal(x.rgb, y.rgb)
        np.testing.assert_array_equal(x.depth_mm, y.depth_mm)
        np.testing.assert_array_equal(x.segmentation, y.segmentation)
        assert [o.visibility for o in x.objects] == [o.visibility for o in y.objects]
    np.testing.assert_array_equal(a.render(3).depth_mm, fa3.depth_mm)  # call order does not matter
    streamed = list(a.frames(2, 5))  # the pipelined iterator gives the same frames
    assert [f.index for f in streamed] == [2, 3, 4]
    np.testing.assert_array_equal(streamed[1].rgb, fa3.rgb)
    np.testing.assert_array_equal(streamed[1].depth_m, fa3.depth_m)
    assert not np.array_equal(c.render(3).rgb, fa3.rgb)
