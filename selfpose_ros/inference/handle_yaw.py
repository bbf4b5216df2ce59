"""A standing mug's yaw from its handle, found in the depth (both back-ends, after the per-axis sizing).

Neither a fit of the mean prior nor the learned correspondences place a mug's handle reliably: the body is
round, and the handle is a few pixels wide and mostly silhouette, which the surface selection drops. Once a
mug stands upright, its body axis and the handle's azimuth about it are found directly
(``geometry.handle_azimuth``) in its points with their silhouette (``FrameGeometry.handle_points``). When the
handle is found, the pose is turned about the body axis so that canonical +X points at it, and the box
centre moves to where that puts it; the size is kept (its x and z swapped when the box was wider across the
handle than along it). A handle that faces the camera is seen edge-on, a thin strip in front of the body whose
depth is mostly lost; a few points standing out of the wall towards the camera find it (``viewer``). When it is
not found, the handle is hidden, or too little of it was seen to tell.
Either way the body's diameter is then measured from the fitted axis (``measured_body_box``: twice its largest
band radius), and a found handle's reach gives the box's length along it; the sizing's own diameter was too
wide or narrow on 15 % of the learned back-end's mugs. A handle not found is then placed behind the body, where
a handle that does not show most often is (``hidden_protrusion_box``): +X turned away from the camera, the box
centre HIDDEN_HANDLE_AWAY of the way to where a handle straight behind would put it, the box at least as long
as the prior's proportions make it (``prior_length_ratio``). Both back-ends do this since stop 28: the learned
back-end's network turned most hidden handles towards the camera. The fused clouds keep their fit's yaw
(``place_unseen=False``).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from selfpose_ros.conventions import HANDLE_CATEGORIES
from selfpose_ros.geometry.handle_azimuth import (
    Protrusion,
    face_direction,
    face_protrusion,
    hidden_protrusion_box,
    measured_body_box,
)
from selfpose_ros.geometry.mesh_box import mesh_box
from selfpose_ros.geometry.upright import tilt_deg
from selfpose_ros.inference.instance_geometry import SizedPose
from selfpose_ros.shapes.priors import load_prior

#: Only a mug whose up axis is within this of the up direction (degrees) is searched: it stands.
MAX_TILT_DEG = 10.0
#: A handle not found: the box centre moves this share of the way from the body axis to where a handle straight
#: behind the body would put it (``hidden_protrusion_box``); 0 keeps it on the axis.
HIDDEN_HANDLE_AWAY = 0.5
#: Where a single view's points were seen from: the camera, at the origin of their frame.
CAMERA = np.zeros(3)


def turn_to_handle(category: str, sized: SizedPose, points: np.ndarray, up: np.ndarray | None,
                   place_unseen: bool = True, wall_sigmas: float = 0.0, known: np.ndarray | None = None,
                   voted: np.ndarray | None = None, viewer: np.ndarray | None = CAMERA
                   ) -> tuple[SizedPose, Protrusion | None]:
    """``sized`` turned about its body axis to face its handle with its box measured from that axis
    (``measured_body_box``), and what the search found (None: not searched). With ``place_unseen``, a handle
    not found (and no direction given) is placed behind the body (``hidden_protrusion_box``,
    HIDDEN_HANDLE_AWAY); without, the pose keeps its yaw (a back-end whose yaw carries evidence of its own: the
    learned one).

    ``points`` (N, 3): the instance's camera-frame points with their silhouette; ``up`` (3,) the up direction.
    ``wall_sigmas``: a handle point stands out of the wall by that many times the wall's scatter too (a fused cloud's
    thick wall; ``geometry.handle_azimuth.find_protrusion``). ``voted`` (3,): the handle direction several views
    agree on (a fused track's); it wins over the search, which then only fits the axis and measures the box.
    ``known`` (3,): where the handle was found before (a static object's earlier views): without ``voted``, a
    handle not found now faces it. ``viewer`` (3,): where the points were seen from (default: the camera, at the
    origin of its frame), so that a handle facing it, seen edge-on from a few points, is found; None for a cloud
    fused over views.
    """
    if category not in HANDLE_CATEGORIES or up is None or len(points) == 0:
        return sized, None
    R = np.asarray(sized.rotation, np.float64)
    if tilt_deg(R, up) > MAX_TILT_DEG:
        return sized, None
    R_new, t_new, size, found = face_protrusion(R, sized.translation, sized.size, points, up, wall_sigmas, viewer)
    given = voted if voted is not None else known
    if given is not None and not found.found:
        R_new, t_new, size = face_direction(R_new, t_new, size, given, up, found.axis)
    t_new, size = measured_body_box(R_new, t_new, size, found, up)
    if voted is not None and found.found:  # the views' agreement turns the box measured about the found axis
        R_new, t_new, size = face_direction(R_new, t_new, size, voted, up, found.axis)
    if place_unseen and given is None:
        R_new, t_new, size = hidden_protrusion_box(R_new, t_new, size, found, up, HIDDEN_HANDLE_AWAY,
                                                   prior_length_ratio(category))
    return SizedPose(R_new, t_new, size, sized.fit, sized.top_visible), found


@cache
def prior_length_ratio(category: str) -> float:
    """The shipped prior's box length along its handle (x) over its diameter (z): a hidden handle's box is at
    least this long (1.31 for the mug; held-out mugs span 1.24-1.49)."""
    extent = mesh_box(load_prior(category)[0])[1]
    return float(extent[0] / extent[2])


def handle_extras(found: Protrusion | None) -> dict:
    """Estimate extras of a handle search: ``handle_visible`` (found or not) when one ran, else nothing."""
    return {} if found is None else {"handle_visible": bool(found.found)}
