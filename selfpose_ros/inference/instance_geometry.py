"""Instance geometry every back-end shares: the frame's up direction and support plane, each instance's
own depth surface (a bleeding mask's background and flying pixels dropped), the per-axis metric size of a
fitted shape model, and the category size policy (``shapes.size_ranges``) applied to every estimate.

Per frame (:func:`frame_geometry`): the support plane is searched in the depth outside the instance masks
(``geometry.support_plane``; constrained to the gravity direction when TF knows it); without gravity its
normal becomes the up hint (``up_source`` "support_plane"). Then every instance's surface is selected
(``geometry.instance_surface``), points on or below the support plane excluded.
Per instance (:func:`size_and_pose`): the shape model is stretched along its canonical axes
(``geometry.axis_scales``): per-axis scales for asymmetric categories, radius and height for solids of
revolution, each kept within its category's range widened by the clamp slack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Instance
from selfpose_ros.geometry.axis_scales import AxisScaleFit, fit_axis_scales
from selfpose_ros.geometry.body_axis import centre_on_axis
from selfpose_ros.geometry.instance_surface import (
    InstanceSurface,
    SurfaceOptions,
    depth_discontinuities,
    object_surfaces,
    off_plane,
    surface_points,
    with_silhouette,
)
from selfpose_ros.geometry.mesh_box import mesh_box
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.geometry.standing_extent import (
    HEIGHT_PERCENTILE,
    box_holding_points,
    height_above_plane,
    radius_about_axis,
)
from selfpose_ros.geometry.support_plane import Plane, PlaneOptions, SupportPlaneInfo, support_plane
from selfpose_ros.geometry.surface_reach import ReachOptions, reach_masks, reach_surfaces
from selfpose_ros.geometry.upright import snap_upright, tilt_deg
from selfpose_ros.shapes.size_ranges import axis_scale_bounds, typical_size

#: Per-axis scales of categories that are no solids of revolution stay within this factor of the similarity's.
ASYMMETRIC_AXIS_RATIO = 1.3
#: A fitted box stands on the support plane when its bottom is within the larger of these of it (metres; share
#: of its height) ...
STANDING_GAP_M, STANDING_GAP_SHARE = 0.015, 0.2
#: ... and its up axis within this of the plane's normal (degrees).
MAX_PLANE_TILT_DEG = 10.0
#: Categories whose height is measured: compact bodies whose top is one piece with the rest of their surface
#: (a laptop's lid can part from its base at a depth edge, leaving only the base's few centimetres).
MEASURED_HEIGHT = ("bottle", "bowl", "can", "mug")
#: A measured height may shrink the fit's by at most this factor for THIN_TOPPED categories (a bottle's thin neck
#: can be dropped as an edge); the others' top (a rim, a lid) is the upper edge of their silhouette, and a height
#: measured with the top in view is taken as it is (shallow bowls were kept up to 1.5x too tall). It may grow the
#: fit's freely (the points are there).
MAX_MEASURED_SHRINK = 1.5
THIN_TOPPED = ("bottle",)
#: A solid of revolution's radius read from its wall points misses this many pixels' width at its depth: the surface
#: selection drops the pixels at the silhouette's depth jump, and the readings next to it lie farther than the wall
#: (mixed with the background), which bends the fitted circle inwards (measured on held-out scenes: radii 0.96x at
#: realism none, 0.93x at default, about 0.9 px short).
RADIUS_EDGE_PX = 1.0
#: The object's top: its points within the larger of these (metres; share of its height) of its highest.
TOP_BAND_M, TOP_BAND_SHARE = 0.01, 0.1
#: Categories whose box grows to hold the central HOLD_PERCENTILE band of their own points along each axis
#: (``geometry.standing_extent.box_holding_points``): no template has every camera's proportions, and the per-axis
#: stretch of one whose lens is shorter than the instance's leaves the lens tip outside the box (held-out cameras
#: came out 0.82x along the lens at the median, 0.92x even at realism none). Not the laptop: no gain measured.
HELD_BY_POINTS = ("camera",)
HOLD_PERCENTILE = 99.0
#: Width (pixels) of the image border band, where an object may go on beyond the image.
BORDER_PX = 2
#: An instance is cut off by the image border when at least this many of its mask's pixels lie in the border
#: band (``FrameGeometry.cut_off``) ...
CUT_OFF_MIN_PX = 3
#: ... and then its size is not smaller overall (the norm of the size) than its category's typical size
#: (``shapes.size_ranges.typical_size``) times this: what is seen of it is only a part of it, and a similarity
#: fit to a part shrinks (a bottle seen as a sliver at the border fitted at 0.44x of its height).
CUT_OFF_MIN_TYPICAL = 1.0


def free_pixels(depth: np.ndarray, keep: np.ndarray, margin_px: int = 2) -> np.ndarray:
    """Pixels (H, W) with a depth reading farther than ``margin_px`` from an object's kept pixels ``keep`` (H, W)."""
    kernel = np.ones((2 * margin_px + 1, 2 * margin_px + 1), np.uint8)
    near = cv2.dilate(np.asarray(keep).astype(np.uint8), kernel).astype(bool)
    return np.isfinite(depth) & ~near


def border_band(shape: tuple[int, int], border_px: int = BORDER_PX) -> np.ndarray:
    """(H, W) bool: True on the ``border_px`` rows and columns next to the image's edges."""
    h, w = shape
    band = np.ones((h, w), bool)
    band[border_px:h - border_px, border_px:w - border_px] = False
    return band


@dataclass
class FrameGeometry:
    """What :func:`frame_geometry` found for one frame."""

    up: np.ndarray | None  # (3,) unit up in the camera frame, or None
    up_source: str  # "tf" (frame.up), "support_plane" or "none"
    plane: SupportPlaneInfo | None  # None when the search was off
    surfaces: list[InstanceSurface] = field(default_factory=list)  # one per instance, in order
    masks: np.ndarray | None = None  # (N, H, W) the instances' masks, in order
    surface_options: SurfaceOptions = field(default_factory=SurfaceOptions)
    reach: ReachOptions = field(default_factory=ReachOptions)
    _far_edges: np.ndarray | None = field(default=None, repr=False)  # made on first use (handle_points)
    _reached: np.ndarray | None = field(default=None, repr=False)  # the selection's grown masks, on first use

    def handle_points(self, frame: RGBDFrame, k: int, max_points: int = 4000, seed: int = 0) -> np.ndarray:
        """Camera-frame points (N, 3) of instance ``k``'s own surface with its foreground silhouette
        (``geometry.instance_surface.with_silhouette``): a mug's handle is mostly silhouette."""
        if self.masks is None or len(self.masks) <= k:
            return self.points(frame, k, max_points, seed)
        if self._far_edges is None:
            o = self.surface_options
            self._far_edges = depth_discontinuities(frame.depth, o.jump_m, o.jump_rel, far_side_only=True)
        if self._reached is None:
            self._reached = reach_masks(self.masks, self.reach.reach_px)
        mask = self.masks[k] | off_plane(frame.depth, frame.K, self._reached[k] & ~self.masks[k], self.support,
                                         self.reach.plane_margin_m)  # the grown mask as the surface's reach sees it
        keep = with_silhouette(frame.depth, frame.K, mask, self.surfaces[k].keep, self._far_edges,
                               self.support, self.surface_options.plane_margin_m, self.surface_options.link_m)
        pts = backproject_np(frame.depth, frame.K, keep)
        if len(pts) > max_points:
            pts = pts[np.random.default_rng(seed).choice(len(pts), max_points, replace=False)]
        return pts

    def points(self, frame: RGBDFrame, k: int, max_points: int = 2000, seed: int = 0) -> np.ndarray:
        """Camera-frame points (N, 3) of instance ``k``'s own surface (uniformly subsampled)."""
        return surface_points(frame.depth, frame.K, self.surfaces[k], max_points, seed)

    def object_depth(self, frame: RGBDFrame, k: int, mask: np.ndarray) -> np.ndarray:
        """The frame's depth with instance ``k``'s dropped pixels (inside ``mask``) set to NaN."""
        return np.where(mask & ~self.surfaces[k].keep, np.float32(np.nan), frame.depth).astype(np.float32)

    def free_space(self, frame: RGBDFrame, k: int, margin_px: int = 2) -> np.ndarray:
        """Pixels (H, W) with depth farther than ``margin_px`` from instance ``k``'s own surface."""
        return free_pixels(frame.depth, self.surfaces[k].keep, margin_px)

    def blocked(self, frame: RGBDFrame, k: int, margin_m: float = 0.02) -> np.ndarray:
        """Pixels (H, W) where instance ``k`` may be hidden: the image border band and other instances'
        pixels nearer than the median depth of ``k``'s own surface by ``margin_m``."""
        out = border_band(frame.depth.shape)
        own = frame.depth[self.surfaces[k].keep]
        own = own[np.isfinite(own)]
        if self.masks is not None and len(own) and len(self.masks) > 1:
            others = np.delete(self.masks, k, axis=0).any(0)
            with np.errstate(invalid="ignore"):
                out |= others & (frame.depth < float(np.median(own)) - margin_m)
        return out

    def cut_off(self, k: int) -> bool:
        """True when instance ``k``'s mask (its kept surface without masks) reaches the image border band."""
        mask = self.masks[k] if self.masks is not None and len(self.masks) > k else self.surfaces[k].keep
        return int(np.count_nonzero(mask & border_band(mask.shape))) >= CUT_OFF_MIN_PX

    @property
    def support(self) -> Plane | None:
        """The support plane, when one was found."""
        return None if self.plane is None else self.plane.plane

    def extras(self, k: int) -> dict:
        """Per-estimate extras: where up came from, the surface selection's counts and kept pixels
        (``surface_keep``, (H, W) bool, not a copy) and the support plane (``support_plane``: its camera-frame
        normal and offset, when one was found); fusion reuses the kept pixels and the plane."""
        surface = self.surfaces[k]
        out = {"up_source": self.up_source, "surface": surface.as_dict(), "surface_keep": surface.keep}
        if self.support is not None:
            out["support_plane"] = (self.support.normal.copy(), float(self.support.offset))
        return out


def frame_geometry(
    frame: RGBDFrame,
    instances: Sequence[Instance],
    *,
    use_support_plane: bool = True,
    surface_options: SurfaceOptions | None = None,
    plane_options: PlaneOptions | None = None,
    reach: ReachOptions | None = None,
) -> FrameGeometry:
    """Support plane, up direction and every instance's own surface for one frame (see the module docstring)."""
    masks = np.stack([inst.mask for inst in instances]) if instances else np.zeros((0, *frame.depth.shape), bool)
    info = None
    if use_support_plane:
        info = support_plane(frame.depth, frame.K, masks, up_hint=frame.up, options=plane_options)
    if frame.up is not None:
        up, source = np.asarray(frame.up, np.float64), "tf"
    elif info is not None and info.plane is not None:
        up, source = info.plane.normal.copy(), "support_plane"
    else:
        up, source = None, "none"
    plane = None if info is None else info.plane
    surface_options = surface_options or SurfaceOptions()
    reach = reach or ReachOptions()
    surfaces = []
    if len(masks):
        edges = depth_discontinuities(frame.depth, surface_options.jump_m, surface_options.jump_rel)
        surfaces = object_surfaces(frame.depth, frame.K, masks, plane=plane, options=surface_options, edges=edges)
        surfaces = reach_surfaces(frame.depth, frame.K, masks, surfaces, plane=plane, options=reach, edges=edges)
    return FrameGeometry(up, source, info, surfaces, masks, surface_options, reach)


@dataclass(frozen=True)
class SizedPose:
    """A pose whose translation is the box centre and whose size is per axis, before the size policy."""

    rotation: np.ndarray  # (3, 3) canonical -> camera
    translation: np.ndarray  # (3,) box centre, metres, camera frame
    size: np.ndarray  # (3,) metres along canonical x, y, z
    fit: AxisScaleFit
    top_visible: bool | None = None  # whether the height was measured with the top in view (None: not measured)


def size_and_pose(
    category: str,
    model_points: np.ndarray,
    observed: np.ndarray,
    rotation: np.ndarray,
    translation: np.ndarray,
    scale: float,
    *,
    model_normals: np.ndarray | None = None,
    frame: RGBDFrame | None = None,
    free: np.ndarray | None = None,
    plane: Plane | None = None,
    up: np.ndarray | None = None,
    upright_deg: float = 0.0,
    max_distance: float = 0.01,
    box_points: np.ndarray | None = None,
    blocked: np.ndarray | None = None,
    top_visible: bool | None = None,
    iterations: int = 20,
    cut_off: bool = False,
) -> SizedPose:
    """Per-axis size and refined pose of a similarity fit ``x = s R p + t`` of model points (M, 3) to observed (K, 3).

    ``box_points`` (default ``model_points``): the points whose box is the object's (e.g. mesh vertices
    when ``model_points`` are surface samples). With ``model_normals`` (M, 3), the ``frame`` and the
    ``free`` pixels (:meth:`FrameGeometry.free_space`), model surface through which the camera sees the
    background pulls the size in; with the support ``plane``, model points below it are pulled onto it.
    Solids of revolution get one radius and one height; the other categories' axes stay within
    ``ASYMMETRIC_AXIS_RATIO`` of the similarity scale. A fit whose +Y is within ``upright_deg`` of ``up``
    stands upright: the refinement keeps it so. An upright fit standing on ``plane`` then takes its height
    (and a solid of revolution its radius) from the observed points (``geometry.standing_extent``): as measured
    when its top is seen, else as a lower bound. Whether the top is seen: ``top_visible``, or with the ``frame``
    and ``blocked`` pixels (:meth:`FrameGeometry.blocked`), whether most of its highest points lie away from
    them; with neither, nothing is measured. ``iterations``: of the per-axis stretch (``fit_axis_scales``).
    HELD_BY_POINTS categories' boxes then grow to hold their points (HOLD_PERCENTILE band, each axis).
    ``cut_off`` (:meth:`FrameGeometry.cut_off`): only a part of the object is in the image; unless it is a
    standing object whose top is seen (measured), a fit smaller overall than CUT_OFF_MIN_TYPICAL of the category's
    typical size is stretched again with its scales at least that much larger (its proportions kept as the
    floor), so the pose moves to fit the seen part.
    """
    sym = SYMMETRY.get(category, "none")
    box = model_points if box_points is None else box_points
    centre, extents = mesh_box(box, sym)
    R = np.asarray(rotation, np.float64)
    t0 = np.asarray(translation, np.float64) + scale * R @ centre
    lo, hi = axis_scale_bounds(category, extents)
    upright = None if up is None or upright_deg <= 0 or tilt_deg(R, up) > upright_deg else np.asarray(up, np.float64)

    def stretch(R_start: np.ndarray, t_start: np.ndarray, up_axis: np.ndarray | None,
                low: np.ndarray = lo) -> AxisScaleFit:
        return fit_axis_scales(
            np.asarray(model_points, np.float64) - centre, observed, R_start, t_start, scale,
            revolution=sym == "continuous_y", model_normals=model_normals,
            depth=None if frame is None else frame.depth, K=None if frame is None else frame.K, free=free,
            plane=plane, upright=up_axis, max_distance=max_distance, scale_bounds=(low, hi),
            max_axis_ratio=None if sym == "continuous_y" else ASYMMETRIC_AXIS_RATIO, iterations=iterations)

    fit = stretch(R, t0, upright)
    if upright is None and up is not None and upright_deg > 0 and category in MEASURED_HEIGHT and plane is not None \
            and tilt_deg(fit.rotation, up) <= upright_deg:
        # a tilted similarity (e.g. a small bowl nested in the real one) that the stretch brought upright: again,
        # held upright, so that the standing object's height can be measured below
        upright = np.asarray(up, np.float64)
        fit = stretch(snap_upright(fit.rotation, upright), fit.translation, upright)
    measured = category in MEASURED_HEIGHT and upright is not None and plane is not None and \
        (top_visible is not None or (blocked is not None and frame is not None))
    if measured and top_visible is None:
        top_visible = top_in_view(observed, plane, frame.K, blocked)
    if cut_off and not (measured and top_visible):  # a standing object whose top is seen is measured below
        grow = CUT_OFF_MIN_TYPICAL * float(np.linalg.norm(typical_size(category))) / \
            float(np.linalg.norm(fit.scales * extents))
        if grow > 1.0:
            fit = stretch(fit.rotation, fit.translation, upright, np.minimum(np.maximum(lo, grow * fit.scales), hi))
    sized = SizedPose(fit.rotation, fit.translation, fit.scales * extents, fit)
    if category in HELD_BY_POINTS:
        centre, size = box_holding_points(sized.rotation, sized.translation, sized.size, observed, HOLD_PERCENTILE)
        sized = SizedPose(sized.rotation, centre, np.minimum(size, hi * extents), fit)
    if not measured:
        return sized
    pixel_m = 0.0 if frame is None else float(np.median(observed[:, 2])) / float(frame.K[0, 0])
    return measured_extents(sized, observed, plane, sym == "continuous_y", top_visible, lo * extents, hi * extents,
                            pixel_m, MAX_MEASURED_SHRINK if category in THIN_TOPPED else np.inf)


def top_in_view(observed: np.ndarray, plane: Plane, K: np.ndarray, blocked: np.ndarray, ring_px: int = 3) -> bool:
    """True when most of the highest observed points (K, 3) (within TOP_BAND of the top above ``plane``) project
    farther than ``ring_px`` from ``blocked`` pixels (H, W): the object's top is seen, not cut off or hidden."""
    pts = np.asarray(observed, np.float64)
    pts = pts[np.isfinite(pts).all(1) & (pts[:, 2] > 0)]
    if not len(pts):
        return False
    heights = plane.signed_distance(pts)
    top = float(np.percentile(heights, HEIGHT_PERCENTILE))
    band = pts[heights >= top - max(TOP_BAND_M, TOP_BAND_SHARE * top)]
    kernel = np.ones((2 * ring_px + 1, 2 * ring_px + 1), np.uint8)
    near = cv2.dilate(blocked.astype(np.uint8), kernel).astype(bool)
    uv = band @ np.asarray(K, np.float64).T
    u = np.clip(np.round(uv[:, 0] / uv[:, 2]).astype(int), 0, near.shape[1] - 1)
    v = np.clip(np.round(uv[:, 1] / uv[:, 2]).astype(int), 0, near.shape[0] - 1)
    return bool(near[v, u].mean() < 0.5)


def measured_extents(sized: SizedPose, observed: np.ndarray, plane: Plane, revolution: bool, top_visible: bool,
                     low: np.ndarray, high: np.ndarray, pixel_m: float = 0.0,
                     max_shrink: float = MAX_MEASURED_SHRINK) -> SizedPose:
    """An upright ``sized`` pose standing on ``plane`` with its height (and, for a solid of revolution, its
    diameter, about the vertical axis fitted to them, ``geometry.body_axis.centre_on_axis``, which also centres
    the box on that axis) measured from the observed points (K, 3), its bottom put on the plane. With ``top_visible`` as
    measured (a height no lower than the fit's / ``max_shrink``), else never below the fit's. Sizes stay
    within ``low``/``high`` (3,) metres. ``pixel_m``: the width of one pixel at the object's depth (metres); the
    measured radius gains RADIUS_EDGE_PX of it (see there). A fit that does not stand on the plane (its bottom
    farther than STANDING_GAP_M / STANDING_GAP_SHARE from it) or leans away from its normal is returned as it is."""
    n = plane.normal
    if tilt_deg(sized.rotation, n) > MAX_PLANE_TILT_DEG:
        return sized
    size = np.asarray(sized.size, np.float64).copy()
    centre = float(plane.signed_distance(sized.translation))
    if abs(centre - size[1] / 2) > max(STANDING_GAP_M, STANDING_GAP_SHARE * size[1]):
        return sized
    height = height_above_plane(observed, plane)
    if not np.isfinite(height) or height <= 0:
        return sized
    measured = max(height, size[1] / max_shrink) if top_visible else max(height, size[1])
    size[1] = float(np.clip(measured, low[1], high[1]))
    t = np.asarray(sized.translation, np.float64) + n * (size[1] / 2 - centre)
    if revolution:  # the diameter about the axis fitted to the points (a fit's centre may sit off it)
        t = centre_on_axis(observed, t, n, 0.5 * size[0], size[1])
        diameter = 2.0 * (radius_about_axis(observed, t, n) + RADIUS_EDGE_PX * pixel_m)
        if np.isfinite(diameter) and diameter > 0:
            diameter = diameter if top_visible else max(diameter, size[0])
            size[[0, 2]] = np.clip(diameter, low[[0, 2]], high[[0, 2]])
    return SizedPose(sized.rotation, t, size, sized.fit, bool(top_visible))
