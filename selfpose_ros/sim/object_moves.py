"""Moving an object between frames: the same sequence with one object standing somewhere else.

The simulator's scenes are static; a test of what happens when someone moves an object renders the first
frames from the sequence and the later ones from :func:`with_object_moved`'s copy (same camera path, stamps,
lighting and looks; only that object's pose differs).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from selfpose_ros.sim.raycaster import SceneRaycaster
from selfpose_ros.sim.shading import Shader
from selfpose_ros.sim.simulator import SimScene


def with_object_moved(sim: SimScene, index: int, T_map_object: np.ndarray) -> SimScene:
    """A copy of ``sim`` whose object ``index`` stands at the rigid pose ``T_map_object`` (4, 4) in map."""
    if not 0 <= index < len(sim.scene.objects):
        raise ValueError(f"object index {index} outside [0, {len(sim.scene.objects)})")
    T = np.asarray(T_map_object, dtype=np.float64)
    if T.shape != (4, 4) or not np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-6):
        raise ValueError("T_map_object must be a 4x4 rigid transform")
    objects = list(sim.scene.objects)
    objects[index] = dataclasses.replace(objects[index], T_map_object=T)
    moved = copy.copy(sim)
    moved.scene = dataclasses.replace(sim.scene, objects=objects)
    moved.raycaster = SceneRaycaster(moved.scene, sim.camera)
    moved.shader = Shader(moved.scene, moved.raycaster)
    labels = [0 if g.object_index < 0 else objects[g.object_index].label for g in moved.raycaster.geometries]
    moved._label_of_geometry = np.array(labels + [0], dtype=np.int32)
    return moved
