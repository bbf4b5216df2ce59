"""Realism inside the simulator: looks change, geometry and ground truth do not; highlights, clear plastic, clutter."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import trimesh

from selfpose_ros.conventions import encode_label
from selfpose_ros.geometry.transforms import rigid
from selfpose_ros.shapes.registry import sample_instance
from selfpose_ros.sim.appearance import random_light
from selfpose_ros.sim.dressing import dress_scene
from selfpose_ros.sim.pinhole import PinholeCamera
from selfpose_ros.sim.raycaster import SceneRaycaster
from selfpose_ros.sim.realism import SceneDressing, realism_preset
from selfpose_ros.sim.scene import R_CANONICAL_UPRIGHT, EnvironmentPart, PlacedObject, Scene, SceneConfig
from selfpose_ros.sim.segmenter import SPLIT_OFFSET
from selfpose_ros.sim.shading import Shader
from selfpose_ros.sim.simulator import SimConfig, SimScene
from selfpose_ros.sim.textures import Material, solid_material

SCENE = SceneConfig(min_objects=4, max_objects=4)


#: Optical frame looking along map +x from the origin.
LOOK_ALONG_X = np.array([[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def wall_part(distance: float) -> EnvironmentPart:
    """A large wall facing -x whose front face is ``distance`` metres from the origin."""
    wall = trimesh.creation.box(extents=(0.02, 20.0, 20.0))
    wall.apply_translation((distance + 0.01, 0.0, 0.0))
    return EnvironmentPart("wall", wall, solid_material(np.array([0.5, 0.5, 0.5])))


@functools.lru_cache(maxsize=8)
def sim(level: str, seed: int = 4) -> SimScene:
    """A 160x120 sequence (cached: rendering is deterministic and independent of call order)."""
    return SimScene(SimConfig(width=160, height=120, num_frames=6, scene=SCENE, realism=realism_preset(level)), seed)


@pytest.mark.parametrize("level", ["default", "heavy"])
def test_same_seed_same_frames_and_exact_ground_truth(level: str) -> None:
    clean, a = sim("none"), sim(level)
    b = SimScene(a.config, a.seed)
    fa, fb, fc = a.render(3), b.render(3), clean.render(3)
    for x, y in ((fa.rgb, fb.rgb), (fa.depth_mm, fb.depth_mm), (fa.segmentation, fb.segmentation)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(fa.rgb, fc.rgb) and not np.array_equal(fa.depth_mm, fc.depth_mm)
    assert not np.array_equal(fa.segmentation, fa.segmentation_true)
    assert not np.array_equal(sim(level, seed=5).render(3).rgb, fa.rgb)
    # Same objects, same poses, same sizes: realism changes looks and sensors, never the truth.
    for ta, tc in zip(fa.objects, fc.objects, strict=True):
        assert ta.label == tc.label
        np.testing.assert_allclose(ta.translation, tc.translation)
        np.testing.assert_allclose(ta.rotation, tc.rotation)
        np.testing.assert_allclose(ta.size, tc.size)
        assert ta.visible_pixels == int((fa.segmentation_true == ta.label).sum())
    labels = {o.label for o in fa.objects}
    published = set(np.unique(fa.segmentation).tolist()) - {0}
    assert published <= labels | {x + SPLIT_OFFSET for x in labels}
    np.testing.assert_array_equal(fc.segmentation, fc.segmentation_true)


def test_dressing_adds_clutter_clear_of_the_objects_and_lights() -> None:
    base = sim("none").scene
    scene = sim("heavy").scene
    clutter = [p for p in scene.environment if p.name == "clutter"]
    config = realism_preset("heavy").dressing
    assert 1 <= len(clutter) <= config.clutter[1]
    assert config.extra_lights[0] <= len(scene.extra_lights) <= config.extra_lights[1]
    for part in clutter:
        lo, hi = part.mesh.bounds
        assert lo[2] == pytest.approx(scene.table_top_z) and hi[2] - lo[2] <= scene.max_object_height + 1e-9
        centre, radius = (lo[:2] + hi[:2]) / 2, 0.5 * np.hypot(*(hi[:2] - lo[:2]))
        for obj in scene.objects:
            foot = 0.5 * obj.scale * np.hypot(obj.shape.extents[0], obj.shape.extents[2])
            assert np.hypot(*(centre - obj.T_map_object[:2, 3])) >= radius + foot
    for a, b in zip(base.objects, scene.objects, strict=True):
        np.testing.assert_array_equal(a.T_map_object, b.T_map_object)
        assert a.materials is not b.materials
    assert [p.name for p in base.environment] == [p.name for p in scene.environment if p.name != "clutter"]


def one_object_scene(material: Material, wall_colour: tuple[float, float, float]) -> tuple[Scene, SceneRaycaster]:
    rng = np.random.default_rng(0)
    shape = sample_instance("bottle", rng, resolution=32)
    wall = wall_part(2.0)
    wall.material = solid_material(np.array(wall_colour, np.float32))
    obj = PlacedObject(
        "bottle",
        1,
        encode_label("bottle", 1),
        shape,
        0.3,
        rigid(R_CANONICAL_UPRIGHT, np.array([0.7, 0.0, 0.0])),
        [material, material],
    )
    light = random_light(rng)
    scene = Scene([obj], [wall], light, 0.0, np.zeros(3), 0.3, 10.0)
    return scene, SceneRaycaster(scene, PinholeCamera.from_fov(160, 120, 69.0))


def test_highlights_on_glossy_parts_and_clear_plastic_shows_what_is_behind() -> None:
    grey = np.array([0.5, 0.5, 0.5], np.float32)
    matte_scene, rc = one_object_scene(solid_material(grey), (0.8, 0.1, 0.1))
    hits = rc.cast(LOOK_ALONG_X)
    bottle = hits.geometry == 1
    matte = Shader(matte_scene, rc).shade_layers(hits)
    glossy_scene, rc2 = one_object_scene(Material(grey[None, None], 1.0, specular=1.0, shininess=20.0), (0.8, 0.1, 0.1))
    glossy = Shader(glossy_scene, rc2).shade_layers(hits)
    diff = glossy.rgb[bottle].astype(int).sum(axis=1) - matte.rgb[bottle].astype(int).sum(axis=1)
    assert diff.min() >= 0 and diff.max() > 60  # a highlight, nothing darker
    assert glossy.specular[bottle].max() > 0.3 and matte.specular.max() == 0
    clear_scene, rc3 = one_object_scene(
        Material(np.full((1, 1, 3), 0.9, np.float32), 1.0, specular=0.9, shininess=100.0, transparent=True),
        (0.8, 0.1, 0.1),
    )
    clear = Shader(clear_scene, rc3).shade_layers(hits)
    assert clear.transparent[bottle].all() and not clear.transparent[~bottle].any()
    red_share = clear.rgb[bottle, 0].astype(float) / np.maximum(clear.rgb[bottle].sum(axis=1), 1)
    assert np.median(red_share) > 0.45  # the red wall shows through a nearly white bottle
    assert matte.albedo_luminance[bottle].mean() == pytest.approx(0.5, abs=0.01)


def test_default_depth_has_fewer_readings_and_is_shifted() -> None:
    s = sim("default")
    f = s.render(2)
    valid = f.depth_mm > 0
    clean_valid = sim("none").render(2).depth_mm > 0
    assert 0.6 < valid.mean() < clean_valid.mean()
    dx, dy = s.calibration.shift
    if (dx, dy) != (0, 0):
        # The measured depth matches the true depth shifted by the registration offset better than unshifted.
        from selfpose_ros.sim.depth_artefacts import shift_image

        shifted = shift_image(f.depth_true_m, (dx, dy), 0.0)
        both = valid & (shifted > 0)
        err_shifted = np.median(np.abs(f.depth_mm[both] / 1000 - shifted[both]))
        err_plain = np.median(np.abs(f.depth_mm[valid] / 1000 - f.depth_true_m[valid]))
        assert err_shifted <= err_plain


def test_dressing_without_anything_enabled_changes_nothing() -> None:
    scene = SimScene(SimConfig(width=32, height=24, num_frames=1, scene=SCENE), 4).scene
    before = [id(m) for o in scene.objects for m in o.materials]
    dress_scene(scene, SceneDressing(), np.random.default_rng(0))
    assert before == [id(m) for o in scene.objects for m in o.materials] and not scene.extra_lights
    assert isinstance(scene.environment[0], EnvironmentPart)
