"""Multi-view fusion: world-frame tracks whose fused cloud is refitted as the camera moves around the objects.

Per frame, given the camera pose in the fusion frame (TF at the image stamp) and the back-end's per-frame
estimates with their masks:

1. **Association**: each estimate, carried into the fusion frame, joins the live track of its category
   within ``gate`` metres of its centre or of the view's object points (less the track's half diagonal),
   the same segmentation instance first, else the nearest; or starts a new one.
2. **Motion check** (before anything is added): the track's fused points are projected into the frame; when
   more than ``moved_fraction`` of those the depth can check are *seen through* (the measured depth lies
   more than ``motion_threshold`` behind them), or, for a fused track with 45 deg of span, when the frame's
   object points lie
   more than ``motion_threshold`` farther from the fitted prior than the fused cloud itself does (75th
   percentiles: the prior is not the instance), the object has moved: the track
   restarts from this view, so no fused pose ever mixes two places. An unassociated track that the frame's
   depth sees through is dropped the same way.
3. **Accumulation**: the object's points of this view (eroded mask, within the estimate's reach) go into the
   track's voxel cloud; the view direction object -> camera is kept when it adds coverage.
4. **Refit** with ``geometry.fused_fit.fit_prior_to_fused_cloud`` (the trainer's pseudo-label fit), seeded by
   the track's current pose: a full search when the view adds coverage (or before the first fused fit),
   a seeded refinement every ``refit_period`` frames otherwise. Then the per-axis size of the fused cloud
   (``inference.instance_geometry.size_and_pose``, as the back-ends) and the category size policy
   (``shapes.size_ranges.check_size``: kept, clamped with lowered confidence, or the refit is dropped).
5. **Output**: a fused track publishes its fused pose expressed in this frame's camera, with ``fused``,
   ``fused_views``, ``view_span_deg`` and a confidence that grows with the view span; a track with one view
   (or no fused fit yet) publishes the per-frame estimate unchanged, marked unfused.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.eval.errors import rotation_error_deg
from selfpose_ros.geometry.axis_scales import surface_samples
from selfpose_ros.geometry.free_space import nearest_depth, seen_through
from selfpose_ros.geometry.fused_fit import (
    FusedFitOptions,
    ViewCoverage,
    fit_prior_to_fused_cloud,
    placed_prior_distances,
)
from selfpose_ros.geometry.handle_azimuth import FUSED_WALL_SIGMAS
from selfpose_ros.geometry.mesh_box import mesh_box
from selfpose_ros.geometry.support_plane import Plane
from selfpose_ros.geometry.transforms import invert_rigid
from selfpose_ros.geometry.voxel_cloud import VoxelCloud
from selfpose_ros.inference.estimator import snap_if_upright
from selfpose_ros.inference.fusion_points import camera_plane, object_points, thin
from selfpose_ros.inference.fusion_track import MISFIT_VIEWS, FusedTrack, FusionConfig, span_confidence
from selfpose_ros.inference.handle_yaw import turn_to_handle
from selfpose_ros.inference.instance_geometry import free_pixels, size_and_pose
from selfpose_ros.pose_types import ObjectPoseEstimate
from selfpose_ros.shapes.priors import load_prior
from selfpose_ros.shapes.size_ranges import check_size, similarity_scale_bounds

#: The run-time fit: the pseudo-labels' fit with a smaller subsample and search (it repeats as views arrive).
RUNTIME_FIT = FusedFitOptions(inlier_threshold=0.006, max_points=600, num_yaw=12, keep_best=2, icp_iterations=10,
                              upright_snap_deg=30.0)
#: At most this many fused points are projected for the motion check, and frame points measured against the prior.
_CHECK_POINTS = 400
_MIN_CHECKED = 20
#: The frame's points are checked against the fused fit only once the track has seen this span (an early fit of a
#: partial cloud may not reach the object's other sides yet).
MODEL_CHECK_SPAN_DEG = 45.0
#: A seeded refit within these of the last sized fit (metres, degrees, relative scale), on a cloud at most
#: SETTLED_GROWTH times as large, keeps the track's size, and its box follows the refit (the per-axis size is the
#: stage's dearest part). For a solid of revolution a search (on new coverage) may settle too; the other categories
#: are sized again after a search: the size's pose refinement settles their yaw (a mug's 5°2cm: 74 % without it).
SETTLED_M, SETTLED_DEG, SETTLED_SCALE, SETTLED_GROWTH = 0.005, 2.0, 0.03, 1.2
#: At most this many fused points (evenly spaced) go into the per-axis size.
SIZE_POINTS = 500
#: Iterations of the fused per-axis size (the back-ends use 20; the fused one starts from a fit of many views).
SIZE_ITERATIONS = 12
#: Surface samples of each prior for the per-axis size (as the depth-only back-end).
SIZE_SAMPLES = 2000


def _settled(track: FusedTrack, scale: float, R: np.ndarray, t: np.ndarray) -> bool:
    """True when a seeded refit lands where the track's last sized fit did (SETTLED_*; solids of revolution:
    any turn about their axis) and the cloud has grown by at most SETTLED_GROWTH since: sizing it again
    would give the same box, so it is skipped."""
    if track.size is None or track.sized is None:
        return False
    points, s0, R0, t0 = track.sized[:4]
    turn = float(rotation_error_deg(R, R0, SYMMETRY.get(track.category, "none")))  # solids: +Y only
    return (len(track.cloud) <= SETTLED_GROWTH * points and abs(scale / s0 - 1.0) <= SETTLED_SCALE
            and float(np.linalg.norm(np.asarray(t) - t0)) <= SETTLED_M and turn <= SETTLED_DEG)


def world_plane(plane: Plane, T_wc: np.ndarray) -> np.ndarray:
    """A camera-frame plane as (n_x, n_y, n_z, d) in the fusion frame (``n . x + d = 0``); any rigid ``T_wc`` moves a
    plane from the frame it maps from to the one it maps to (with T_cw: fusion frame -> camera)."""
    n = T_wc[:3, :3] @ plane.normal
    return np.append(n, plane.offset - float(n @ T_wc[:3, 3]))


def _every(points: np.ndarray, n: int) -> np.ndarray:
    return points[:: max(1, len(points) // n)]


class MultiViewFusion:
    """World-frame tracks of one camera stream (the fusion stage of the frame pipeline)."""

    def __init__(self, config: FusionConfig, fit_options: FusedFitOptions = RUNTIME_FIT) -> None:
        if not config.enabled:
            raise ValueError("MultiViewFusion needs a fusion frame (FusionConfig.frame)")
        self.config = config
        self.fit_options = fit_options
        self.tracks: list[FusedTrack] = []
        #: objects, searches, refits, sizes_kept, resets, dropped, merged, wall_s, cpu_s
        self.stats: Counter = Counter()
        self._next_id = 1
        self._priors: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._trees: dict[str, cKDTree] = {}
        self._samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # prior surface samples and normals

    def _prior(self, category: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(canonical prior vertices (M, 3), their outward unit normals (M, 3), box extents (3,)) of a category."""
        if category not in self._priors:
            vertices, faces = load_prior(category)
            mesh = trimesh.Trimesh(vertices.astype(np.float64), faces, process=False)
            self._priors[category] = (np.asarray(mesh.vertices), np.asarray(mesh.vertex_normals),
                                      np.ptp(mesh.vertices, axis=0))
            self._trees[category] = cKDTree(self._priors[category][0])
            self._samples[category] = surface_samples(vertices, faces, SIZE_SAMPLES, seed=0)
        return self._priors[category]

    def update(self, frame: RGBDFrame, T_world_cam: np.ndarray, estimates: list[ObjectPoseEstimate],
               masks: list[np.ndarray]) -> list[tuple[ObjectPoseEstimate, str]]:
        """Fuse this frame's estimates; return (estimate in the camera frame, track id) per estimate, in order."""
        wall, cpu = time.perf_counter(), time.thread_time()
        out = self._update(frame, T_world_cam, estimates, masks)
        self.stats["objects"] += len(estimates)
        self.stats["wall_s"] += time.perf_counter() - wall
        self.stats["cpu_s"] += time.thread_time() - cpu  # this thread's CPU: fair on a loaded machine
        return out

    def _update(self, frame: RGBDFrame, T_world_cam: np.ndarray, estimates: list[ObjectPoseEstimate],
                masks: list[np.ndarray]) -> list[tuple[ObjectPoseEstimate, str]]:
        cfg, stamp = self.config, frame.stamp_ns
        self.tracks = [t for t in self.tracks if (stamp - t.last_seen_ns) * 1e-9 <= cfg.max_age_s]
        T_wc = np.asarray(T_world_cam, dtype=np.float64)
        T_cw = invert_rigid(T_wc)
        up = None if frame.up is None else T_wc[:3, :3] @ np.asarray(frame.up, dtype=np.float64)
        near = nearest_depth(frame.depth) if self.tracks else None
        free, out = list(self.tracks), []
        for est, mask in zip(estimates, masks):
            R_w, t_w = T_wc[:3, :3] @ est.R, T_wc[:3, :3] @ est.t + T_wc[:3, 3]
            pts = object_points(frame, mask, est)
            pts_w = pts @ T_wc[:3, :3].T + T_wc[:3, 3]
            track = self._associate(est, t_w, pts_w, free)
            if track is None:
                track = FusedTrack(self._next_id, est.category, est.instance, self._cloud(), est.scale, R_w, t_w,
                                   stamp, cfg.coverage_step_deg)
                self._next_id += 1
                self.tracks.append(track)
            else:
                free.remove(track)
                track.instance = est.instance
                if self._moved(track, pts_w, T_cw, near, frame.K):
                    track.restart(self._cloud(), est.scale, R_w, t_w, stamp)
                    self.stats["resets"] += 1
            if not track.fused:
                track.scale, track.R, track.t = est.scale, R_w, t_w
            plane = camera_plane(est)
            if plane is not None:
                track.add_support(world_plane(plane, T_wc))
            track.top_views += bool(est.extras.get("top_visible"))
            if SYMMETRY.get(est.category) != "continuous_y":  # a turn about +Y means nothing for those
                track.add_vote(R_w)
            if est.extras.get("handle_visible"):
                track.add_handle_vote(R_w[:, 0])
            track.last_seen_ns = stamp
            if len(pts_w):
                track.cloud.add(pts_w)
                track.views += 1
                track.frames_since_fit += 1
                coverage = track.add_view(T_wc[:3, 3])
                self._refit(track, coverage, up, (est.scale, R_w, t_w), (frame, T_cw, est.extras.get("surface_keep")))
            out.append((self._output(track, est, T_cw), track.name))
        if near is not None:
            self._drop_seen_through(free, T_cw, near, frame.K)
        self._merge_pieces()
        return out

    def _merge_pieces(self) -> None:
        """Fold a younger track into an older fused one of its category when its cloud lies on the older one's fit
        (the misfit check's bound): one object that a segmenter split, or that one wild view started again, stays
        one track."""
        for young in sorted(self.tracks, key=lambda t: t.views):
            if len(young.cloud) < _MIN_CHECKED:
                continue
            for old in self.tracks:
                if old is young or old.category != young.category or not old.fused or old.views <= young.views \
                        or old.span_deg < MODEL_CHECK_SPAN_DEG:
                    continue
                dist = self._model_distances(old, _every(young.cloud.points, _CHECK_POINTS))
                if float(np.percentile(dist, 75)) <= old.fit_residual + self.config.motion_threshold:
                    old.cloud.add(young.cloud.points)
                    self.tracks.remove(young)
                    self.stats["merged"] += 1
                    break

    def summary(self) -> dict[str, float]:
        """Live tracks, fused ones, their most views and widest span, and the counters (for diagnostics)."""
        tracks, s = list(self.tracks), self.stats
        return {"tracks": len(tracks), "fused_tracks": sum(t.fused for t in tracks),
                "views_max": max((t.views for t in tracks), default=0),
                "view_span_max_deg": round(max((t.span_deg for t in tracks), default=0.0), 1),
                "bytes_max": max((t.nbytes for t in tracks), default=0),
                "searches": s["searches"], "refits": s["refits"], "resets": s["resets"], "dropped": s["dropped"],
                "merged": s["merged"],
                "cpu_ms_per_object": round(1e3 * s["cpu_s"] / max(s["objects"], 1), 2)}

    def clouds(self) -> tuple[np.ndarray, np.ndarray]:
        """Every track's fused points (N, 3) in the fusion frame, and the numeric track id (N,) of each."""
        tracks = list(self.tracks)
        parts = [t.cloud.points for t in tracks]
        ids = [np.full(len(p), t.track_id, dtype=np.uint32) for p, t in zip(parts, tracks)]
        if not parts:
            return np.zeros((0, 3)), np.zeros(0, dtype=np.uint32)
        return np.concatenate(parts), np.concatenate(ids)

    def _cloud(self) -> VoxelCloud:
        return VoxelCloud(self.config.voxel_size, self.config.max_points)

    def _associate(self, est: ObjectPoseEstimate, t_world: np.ndarray, pts_w: np.ndarray, free: list[FusedTrack]
                   ) -> FusedTrack | None:
        """The free track of the estimate's category within ``gate``: its centre near the estimate's, or near
        the view's object points (their median lies up to the object's half diagonal from its centre), so a
        wild single-view pose of a tracked object does not start a second track. Of several, the nearest; on a
        tie (both within reach of the points), the one whose centre is nearest the estimate's centre or the points'
        median (a mug's box centre lies off its points' median, towards its handle), then the same segmentation
        instance (a segmenter's ids need not last: a split mask renumbers them)."""
        same = [t for t in free if t.category == est.category]
        median = np.median(pts_w, axis=0) if len(pts_w) else None

        def distance(track: FusedTrack) -> float:
            d = float(np.linalg.norm(track.t - t_world))
            if median is not None:
                half = 0.5 * track.scale * float(np.linalg.norm(self._prior(track.category)[2]))
                d = min(d, max(0.0, float(np.linalg.norm(track.t - median)) - half))
            return d

        dist = {id(t): distance(t) for t in same}
        near = [t for t in same if dist[id(t)] <= self.config.gate]
        centres = [t_world] if median is None else [t_world, median]

        def nearest(track: FusedTrack) -> float:
            return min(float(np.linalg.norm(track.t - c)) for c in centres)

        return min(near, key=lambda t: (dist[id(t)], nearest(t), t.instance != est.instance), default=None)

    def _seen_through_fraction(self, track: FusedTrack, T_cw: np.ndarray, near: np.ndarray, K: np.ndarray
                               ) -> float:
        """Share of the track's fused points (that the depth can check) this frame sees through; 0 if too few."""
        if not len(track.cloud):
            return 0.0
        pts = _every(track.cloud.points, _CHECK_POINTS)
        checked, through = seen_through(pts @ T_cw[:3, :3].T + T_cw[:3, 3], near, K, self.config.motion_threshold)
        n = int(checked.sum())
        return float(through.sum()) / n if n >= _MIN_CHECKED else 0.0

    def _moved(self, track: FusedTrack, pts_w: np.ndarray, T_cw: np.ndarray, near: np.ndarray | None,
               K: np.ndarray) -> bool:
        """True when this frame's depth sees through the track's fused cloud, or when this view and the one
        before it both lie away from the fused fit (one such view is more often a wrong fit than a move)."""
        cfg = self.config
        if near is not None and self._seen_through_fraction(track, T_cw, near, K) > cfg.moved_fraction:
            return True
        misfit = False
        if track.fused and track.span_deg >= MODEL_CHECK_SPAN_DEG and len(pts_w) >= _MIN_CHECKED:
            dist = self._model_distances(track, _every(pts_w, _CHECK_POINTS))
            misfit = float(np.percentile(dist, 75)) > track.fit_residual + cfg.motion_threshold
        track.misfit_views = track.misfit_views + 1 if misfit else 0
        return track.misfit_views >= MISFIT_VIEWS

    def _model_distances(self, track: FusedTrack, points: np.ndarray) -> np.ndarray:
        """Distances of points (N, 3) in the fusion frame to the track's placed prior."""
        prior, tree = self._prior(track.category)[0], self._trees[track.category]
        return placed_prior_distances(prior, (track.scale, track.R, track.t), points, tree)

    def _drop_seen_through(self, tracks: list[FusedTrack], T_cw: np.ndarray, near: np.ndarray, K: np.ndarray
                           ) -> None:
        """Drop unassociated tracks whose fused points this frame's depth sees through (their object left)."""
        for track in tracks:
            if self._seen_through_fraction(track, T_cw, near, K) > self.config.moved_fraction:
                self.tracks.remove(track)
                self.stats["dropped"] += 1

    def _refit(self, track: FusedTrack, coverage: bool, up: np.ndarray | None, single_view: tuple,
               view: tuple | None = None) -> None:
        """Fit the prior to the fused cloud: full search on new coverage (or first), seeded refinement periodically."""
        if track.views < 2:
            return
        search = coverage or not track.fused
        if not search and track.frames_since_fit < self.config.refit_period:
            return
        prior, normals, extents = self._prior(track.category)
        revolution = SYMMETRY.get(track.category) == "continuous_y"
        views = ViewCoverage(track.directions.array.copy(), normals, votes=track.recent_votes.copy())
        fit = fit_prior_to_fused_cloud(prior, track.cloud.points, up=up, options=self.fit_options,
                                       rng=np.random.default_rng(track.views),
                                       seeds=[(track.scale, track.R, track.t), single_view], search=search,
                                       views=views, scale_bounds=similarity_scale_bounds(track.category, extents),
                                       revolution=revolution)
        self.stats["searches" if search else "refits"] += 1
        track.frames_since_fit = 0
        if not fit.success:
            return
        R = snap_if_upright(fit.rotation, up, self.config.upright_snap_deg)
        if (revolution or not search) and _settled(track, float(fit.scale), R, fit.translation):
            self.stats["sizes_kept"] += 1  # the refit confirmed the fused pose: its size stands, its pose follows
            self._follow(track, float(fit.scale), R, fit.translation)
            return
        if not self._size(track, R, fit.translation, float(fit.scale), up, view):
            return
        track.fused, track.fit_confidence = True, float(fit.inlier_ratio)
        # how far the fused cloud itself lies from the fit (the prior is not the instance): the motion check's zero
        track.fit_residual = float(np.percentile(self._model_distances(track, _every(track.cloud.points, 400)), 75))

    def _follow(self, track: FusedTrack, scale: float, R: np.ndarray, t: np.ndarray) -> None:
        """Move the track's sized box with a refit that kept its size: by the motion from the fit the size was
        computed from (``track.sized``) to the refit ``(scale, R, t)``."""
        _, s0, R0, t0, box_R, box_centre = track.sized  # the anchor stays: no drift by many small steps
        canonical = R0.T @ (box_centre - t0) / s0  # the box centre in the sized fit's canonical frame
        track.R, track.box_centre = R @ R0.T @ box_R, scale * R @ canonical + t
        centre, _ = mesh_box(self._prior(track.category)[0], SYMMETRY.get(track.category, "none"))
        track.t = track.box_centre - track.scale * track.R @ centre

    def _size(self, track: FusedTrack, R: np.ndarray, t: np.ndarray, scale: float, up: np.ndarray | None,
              view: tuple | None = None) -> bool:
        """Per-axis size of the fused cloud (the back-ends' ``size_and_pose``: data -> model, model -> the support
        plane the views saw under the object, and the height (a solid of revolution's radius too) measured from the
        cloud, a lower bound until some view saw the object's top) and the category size policy; set the track's
        pose and size and return True, or False when the size fails. With ``view`` (this frame, T_camera_world and
        the object's kept pixels), the fit is made in this camera, where model surface through which it sees the
        background pulls the size in, as per frame."""
        cat, prior = track.category, self._prior(track.category)[0]
        samples, normals = self._samples[cat]
        support = track.support()  # the table it stands on: the fit may not reach under it
        plane = None if support is None else Plane(support[:3], float(support[3]))
        points = thin(track.cloud.points, SIZE_POINTS)
        frame = free = None
        T = np.eye(4)
        if view is not None and np.shape(view[2]) == view[0].depth.shape:
            frame, T, keep = view
            free = free_pixels(frame.depth, keep)
            if plane is not None:  # the support plane in this camera
                moved = world_plane(plane, T)
                plane = Plane(moved[:3], float(moved[3]))
        Rc, tc = T[:3, :3], T[:3, 3]
        sized = size_and_pose(cat, samples, points @ Rc.T + tc, Rc @ R, Rc @ t + tc, scale, model_normals=normals,
                              frame=frame, free=free, plane=plane, up=None if up is None else Rc @ up,
                              upright_deg=self.config.upright_snap_deg, max_distance=0.01, box_points=prior,
                              top_visible=track.top_views > 0, iterations=SIZE_ITERATIONS)
        sized = replace(sized, rotation=Rc.T @ sized.rotation, translation=Rc.T @ (sized.translation - tc))
        # a mug's handle: where the single views that found it agree (the fused cloud's own handle can lie a few
        # degrees off where the views saw one side of it); else searched in the whole fused cloud (a thinned one
        # holds few handle points) above the wall's scatter; else where it was last seen; else the fit's yaw stands
        voted = track.voted_handle(up)
        sized, found = turn_to_handle(cat, sized, track.cloud.points, up, place_unseen=False,
                                      wall_sigmas=FUSED_WALL_SIGMAS, known=track.handle, voted=voted, viewer=None)
        if found is not None and (found.found or voted is not None):
            track.handle = sized.rotation[:, 0].copy()
        check = check_size(cat, sized.size)
        if check.size is None:
            self.stats["size_failures"] += 1
            return False
        centre, extents = mesh_box(prior, SYMMETRY.get(cat, "none"))
        track.size, track.size_factor = check.size, float(check.confidence_factor)
        track.R, track.box_centre = sized.rotation, sized.translation
        track.sized = (len(track.cloud), float(scale), R, np.asarray(t, np.float64), track.R, track.box_centre)
        track.scale = float(np.linalg.norm(check.size) / np.linalg.norm(extents))  # the similarity-equivalent scale
        track.t = sized.translation - track.scale * sized.rotation @ centre  # the prior's origin, for the next fits
        return True

    def _output(self, track: FusedTrack, est: ObjectPoseEstimate, T_cw: np.ndarray) -> ObjectPoseEstimate:
        """The published estimate: the fused pose in this camera, or the per-frame one marked unfused."""
        span = track.span_deg
        if not track.fused:
            return replace(est, fused=False, fused_views=track.views, view_span_deg=span)
        confidence = span_confidence(track.fit_confidence, span, self.config.full_span_deg) * track.size_factor
        return replace(est, R=T_cw[:3, :3] @ track.R, t=T_cw[:3, :3] @ track.box_centre + T_cw[:3, 3],
                       scale=track.scale, size=track.size.copy(), confidence=confidence,
                       inlier_ratio=track.fit_confidence, num_correspondences=len(track.cloud), fused=True,
                       fused_views=track.views, view_span_deg=span)
