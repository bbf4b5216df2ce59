"""The simulator's TF tree (REP 105 / 103): map -> base_link -> camera_link -> camera_color_optical_frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfpose_ros.geometry.transforms import invert_rigid, rigid

MAP_FRAME = "map"
BASE_FRAME = "base_link"
CAMERA_LINK_FRAME = "camera_link"
OPTICAL_FRAME = "camera_color_optical_frame"

#: Rotation camera_link <- optical frame: optical z forward = link +x, optical x right = link -y, y down = link -z.
R_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class FrameTransform:
    """A rigid transform ``matrix`` (4x4) taking points in ``child`` coordinates to ``parent`` coordinates."""

    parent: str
    child: str
    matrix: np.ndarray


def look_at(eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Optical-frame poses (..., 4, 4) at ``eye`` looking at ``target``: z forward, x right, y down, no roll."""
    eye, target = np.asarray(eye, dtype=float), np.asarray(target, dtype=float)
    z = target - eye
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    x = np.cross(z, np.asarray(up, dtype=float))
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(norm < 1e-6):
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    x /= norm
    y = np.cross(z, x)
    return rigid(np.stack([x, y, z], axis=-1), eye)


def static_chain(T_base_link: np.ndarray) -> tuple[FrameTransform, FrameTransform]:
    """The static transforms base_link -> camera_link (the mount) and camera_link -> optical frame."""
    return (
        FrameTransform(BASE_FRAME, CAMERA_LINK_FRAME, np.asarray(T_base_link, dtype=float)),
        FrameTransform(CAMERA_LINK_FRAME, OPTICAL_FRAME, rigid(R_LINK_OPTICAL, np.zeros(3))),
    )


def base_poses(T_map_optical: np.ndarray, chain: tuple[FrameTransform, FrameTransform]) -> np.ndarray:
    """map -> base_link poses (..., 4, 4) that put the optical frame at ``T_map_optical`` through ``chain``."""
    T_base_optical = chain[0].matrix @ chain[1].matrix
    return T_map_optical @ invert_rigid(T_base_optical)
