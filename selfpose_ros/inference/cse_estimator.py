"""Learned back-end: CSE correspondences -> RANSAC-Umeyama (depth) or keypoint PnP (no depth) -> poses.

Per frame, all instances are cropped (square, undistorted, like training) and run in one batched forward.
Each crop gives, per stride-4 cell, the expected canonical point ``q_p`` and a cycle confidence (2D->3D->2D
agreement). Cells that are confident (above ``min(mean confidence, conf_cap)``) and have depth are paired
with their back-projected camera points; RANSAC-Umeyama fits canonical -> camera (s, R, t), optionally
refined by bounded ICP of the predicted (deformed) mesh against the instance's depth points, then stretched
per axis against them (radius and height for solids of revolution). Only the object's own depth takes part
(``inference.instance_geometry``: a bleeding mask's background, flying pixels and table points are dropped
before the crop is cut). An instance that has depth but whose correspondences give no estimate (too few
confident cells with depth, RANSAC failing, a mask too small for the model, a size outside the category's range)
gets the depth-only baseline's (``prior_fit_estimator.template_estimate``; ``extras["method"]`` "depth_only",
``extras["network_failure"]`` why): at realism heavy that was 8 % of the objects, which had no estimate before
stop 29. An instance with no depth of its own whose category stands on its base
(``inference.mask_on_plane``: bottle, bowl, can, mug) is stood on the support plane from its mask, with the
network's mesh as the template. Otherwise, without enough depth, the confident cells' canonical points go
through PnP-RANSAC at their crop pixels, at the category's typical metric scale (``dense_pnp``); when that
fails, the keypoint head's pixels and the mesh's keypoint vertices do (``keypoint_pnp``). When up is known
(``RGBDFrame.up`` from TF, else the support plane's normal) and the fit's canonical +Y is within
``SolverOptions.upright_snap_deg`` of it, the object is taken to stand upright and the tilt is removed (the yaw
and the box centre are kept), as in the depth-only baseline. Reported size = the per-axis scales (or s) *
extents of the predicted mesh (square cross-section for solids of revolution, ``geometry.mesh_box``), put
through the category size policy (``shapes.size_ranges``); the translation is the centre of that mesh's box
(the canonical convention).
For every category but the mug (``TEMPLATE_FITTED``), the reported pose and size are the shipped template fit's
(``inference.template_fit``: from its yaws and from the network's pose, the camera and the laptop held upright, the
camera's prior with four shape templates; ``extras["pose_source"]`` "template", ``extras["network_deg"]`` how far
the network's own pose was); the network's pose is one start, kept where the depth fits it best. A mug keeps the
network's pose, its box measured from its body axis and turned to its handle (``inference.handle_yaw``).
The confidence (``confidence_score``) is, as the baseline's, how much of the object's depth the posed, sized
mesh explains; without the depth refinement, the inlier ratio times the mean cycle confidence. The cycle
confidence alone ranks right from wrong estimates worse (docs/training.md, "Confidence").
Beyond that box, rotation-symmetric categories need nothing special: any yaw that fits is equally right,
and the evaluator scores them modulo the symmetry.

RGB-D models (``CSEConfig.input`` rgbd/rgbdn) also take the crop's depth as network input: all of it, as in
training (the object-only depth above is what the solver fits). With
``use_depth=False`` the depth is withheld from both the network and the solver: the keypoint/PnP path alone
(the RGB-only mode, scored as its own row by benchmarks/train_eval.py). Models with a handle head report, for
mugs, ``extras["handle_visible"]``: when False, the yaw is unobservable and the mug is scored as symmetric.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from selfpose_ros.conventions import CATEGORIES, HANDLE_CATEGORIES, SYMMETRY
from selfpose_ros.data.crops import crop_instance
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Instance
from selfpose_ros.geometry.axis_scales import surface_samples
from selfpose_ros.geometry.handle_azimuth import Protrusion
from selfpose_ros.geometry.icp import refine_pose_icp
from selfpose_ros.geometry.mesh_box import mesh_box
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.geometry.pnp import pnp_distance_check, pnp_ransac
from selfpose_ros.geometry.pose_fit import PoseFit
from selfpose_ros.geometry.ransac import ransac_umeyama
from selfpose_ros.geometry.rotations import relative_rotation_angle_np
from selfpose_ros.geometry.upright import tilt_deg
from selfpose_ros.inference.estimator import InstanceResult, SolverOptions, resolve_device, snap_if_upright
from selfpose_ros.inference.handle_yaw import handle_extras, turn_to_handle
from selfpose_ros.inference.instance_geometry import FrameGeometry, SizedPose, frame_geometry, size_and_pose
from selfpose_ros.inference.mask_on_plane import lacks_depth, mask_on_plane
from selfpose_ros.inference.prior_fit_estimator import template_estimate
from selfpose_ros.inference.template_fit import template_fitter
from selfpose_ros.inference.upright_preference import prefer_upright
from selfpose_ros.model.camera import downsample_mask
from selfpose_ros.model.checkpoint import load_checkpoint
from selfpose_ros.model.cse_model import FEATURE_STRIDE
from selfpose_ros.pose_types import ObjectPoseEstimate
from selfpose_ros.shapes.size_ranges import check_size, similarity_scale_bounds

#: Surface samples of the predicted mesh used for the per-axis size fit.
SIZE_SAMPLES = 2000
#: The upright refit of a tilted fit uses at most this many of the object's points.
UPRIGHT_POINTS = 500
#: Categories without a handle: the shipped template fit (``inference.template_fit.template_fitter``:
#: ``models/priors``, finer than the checkpoint's mesh, and shape templates) decides their pose and size, started
#: from its own yaws (12; one for a solid of revolution) and from the network's pose, whichever the depth fits best.
#: Checking the network instead (the template reported only when it ended more than 15 degrees away) was right less
#: often: held-out camera 54 % within 10°5cm against 62 %, laptop 72 % against 84 % (docs/training.md, stop 20). The
#: bottle, bowl and can joined at stop 28: on five held-out sets their 10°5cm rose or held (shape set 96.2 -> 98.7 %,
#: heavy shape set 73.1 -> 76.9 %). The mug keeps the network's pose, turned to the handle found in the depth.
TEMPLATE_FITTED = frozenset(c for c in CATEGORIES if c not in HANDLE_CATEGORIES)


def _typical_scale(category: str) -> float:
    """Metres per canonical unit at the middle of the category's real size range (shape library)."""
    from selfpose_ros.shapes.registry import mean_instance

    lo, hi = mean_instance(category).scale_range()
    return 0.5 * (lo + hi)


def dense_correspondences(points: np.ndarray, cell_mask: np.ndarray, confidence: np.ndarray, threshold: float,
                          size: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical point (S,S,3) and keep flag (S,S) per crop pixel, interpolated from the confident cells.

    points (h,w,3), cell_mask (h,w), confidence (h,w): stride-4 maps. Cells inside the mask with confidence
    >= ``threshold`` are bilinearly interpolated (weights renormalised over those cells only), so pixels
    near the object's edge never mix in background cells.
    """
    good = ((cell_mask > 0.5) & (confidence >= threshold)).astype(np.float32)
    t = torch.from_numpy(np.concatenate((points * good[..., None], good[..., None]), -1)).permute(2, 0, 1)[None]
    up = torch.nn.functional.interpolate(t.float(), size=(size, size), mode="bilinear", align_corners=False)[0]
    w = up[3].numpy()
    q = (up[:3] / up[3:].clamp(min=1e-6)).permute(1, 2, 0).numpy()
    return q, w > 0.5


class CSEEstimator:
    """Pose back-end driven by a trained CSE checkpoint (see the module docstring)."""

    def __init__(self, checkpoint: str, categories: Sequence[str] | None, options: SolverOptions, *,
                 padding: float = 0.1, conf_cap: float = 0.5, min_cells: int = 4, ransac_threshold: float | None = None,
                 icp_distance: float = 0.015, use_depth: bool = True) -> None:
        self.options = options
        self.device = torch.device(resolve_device(options.device))
        self.ckpt = load_checkpoint(checkpoint)
        self.model = self.ckpt.build_model(self.device)
        self.categories = list(self.ckpt.categories)
        #: requested categories the checkpoint does not cover: their instances get "not in the model"
        self.missing_categories = [c for c in (categories or []) if c not in self.categories]
        self.size = self.model.config.image_size
        self.padding, self.conf_cap, self.min_cells = padding, conf_cap, min_cells
        self.ransac_threshold = ransac_threshold if ransac_threshold is not None else options.inlier_threshold
        self.icp_distance = icp_distance
        self.use_depth = bool(use_depth)
        mode = "" if use_depth else ", RGB only"
        self.name = f"cse ({checkpoint}, {len(self.categories)} categories{mode})"
        self._scales = dict(self.ckpt.extra.get("typical_scale") or {})
        self._templates = {c: template_fitter(c, options)  # shipped priors and templates: TEMPLATE_FITTED's fit,
                           for c in self.categories}  # and every category's depth-only fallback
        #: seconds of the last estimate() per stage: crop, model (the network forward), solve
        self.last_timings: dict[str, float] = {}

    def typical_scale(self, category: str) -> float:
        """Scale for the RGB-only path: the checkpoint's training median, else the shape library's middle."""
        if category not in self._scales:
            self._scales[category] = _typical_scale(category)
        return float(self._scales[category])

    def warm_up(self, max_batch: int) -> float:
        """Run the network once per batch size 1..max_batch on blank crops; return the seconds it took.

        The first forward of each batch size builds that shape's kernels and buffers (about 50 MB over sizes
        1-8 on CPU): doing it at start-up keeps that cost out of the first frames' latency and out of the
        process's memory growth while it runs.
        """
        t0 = time.perf_counter()
        s = self.size
        K = np.array([[s, 0.0, s / 2], [0.0, s, s / 2], [0.0, 0.0, 1.0]])
        mask = np.zeros((s, s), bool)
        mask[s // 4: 3 * s // 4, s // 4: 3 * s // 4] = True
        blank = _Blank(np.full((s, s, 3), 128, np.uint8), mask, K)
        depth = np.where(mask, 0.7, 0.0).astype(np.float32)
        for n in range(1, max_batch + 1):
            self._forward([blank] * n, [self.categories[0]] * n, net_depths=[depth] * n)
        return time.perf_counter() - t0

    def estimate(self, frame: RGBDFrame, instances: Sequence[Instance]) -> list[InstanceResult]:
        """Estimate every instance of ``frame`` with one batched forward pass."""
        t0 = time.perf_counter()
        results: list[InstanceResult | None] = [None] * len(instances)
        crops, net_depths, todo = [], [], []
        geo = frame_geometry(frame, instances, use_support_plane=self.options.support_plane,
                             reach=self.options.reach())
        for k, inst in enumerate(instances):
            if inst.category not in self.categories:
                results[k] = InstanceResult(inst, None, f"category {inst.category!r} is not in the model "
                                                        f"{self.categories}")
                continue
            c = crop_instance(frame.rgb, geo.object_depth(frame, k, inst.mask), inst.mask, frame.K, self.size,
                              self.padding, inst.box)
            net_depth = None
            if self.model.uses_depth and self.use_depth:  # the network sees the whole crop's depth, as in training
                net_depth = crop_instance(frame.rgb, frame.depth, inst.mask, frame.K, self.size, self.padding,
                                          inst.box).depth
            if not self.use_depth:
                c.depth = np.zeros_like(c.depth)
            cells = downsample_mask(torch.from_numpy(c.mask[None].astype(np.float32)), FEATURE_STRIDE)
            if int(cells.sum()) < self.min_cells:
                small = f"mask too small for the model: {int(cells.sum())} feature cells < {self.min_cells}"
                results[k] = self._depth_only(frame, inst, geo, k, small)
                continue
            crops.append(c)
            net_depths.append(net_depth)
            todo.append(k)
        t1 = t2 = time.perf_counter()
        if todo:
            out = self._forward(crops, [instances[k].category for k in todo], net_depths=net_depths)
            t2 = time.perf_counter()
            for j, k in enumerate(todo):
                results[k] = self._solve(frame, instances[k], crops[j], out, j, geo, k)
        self.last_timings = {"crop": t1 - t0, "model": t2 - t1, "solve": time.perf_counter() - t2}
        return [r for r in results if r is not None]

    @torch.no_grad()
    def _forward(self, crops: list, categories: list[str], net_depths: list | None = None):
        rgb = torch.from_numpy(np.stack([c.rgb for c in crops])).permute(0, 3, 1, 2).float().div_(255.0)
        masks = torch.from_numpy(np.stack([c.mask for c in crops]).astype(np.float32))
        K = torch.from_numpy(np.stack([c.K for c in crops])).float()
        depth = None
        if self.model.uses_depth and self.use_depth and net_depths is not None:
            depth = np.stack([np.nan_to_num(d, nan=0.0) for d in net_depths]).astype(np.float32)
            depth = torch.from_numpy(depth)[:, None].to(self.device)
        out = self.model(rgb.to(self.device), masks.to(self.device), categories, K.to(self.device), depth)
        keep = ("points3d", "cycle_confidence", "feature_mask", "pixel_xy", "vertices", "vertex_valid",
                "keypoint_pixels", "keypoint_indices", "handle_logit", "rotation")  # rotation: the pose head's
        arrays = {k: getattr(out, k).detach().cpu() for k in keep}
        return {k: (a.float() if a.is_floating_point() else a).numpy() for k, a in arrays.items()}

    def _solve(self, frame: RGBDFrame, inst: Instance, crop, out: dict, j: int, geo: FrameGeometry | None = None,
               k: int = 0) -> InstanceResult:
        if geo is None:  # one instance solved on its own (tests): the frame's geometry for it alone
            geo = frame_geometry(frame, [inst], use_support_plane=self.options.support_plane,
                                 reach=self.options.reach())
            k = 0
        n_valid = int(out["vertex_valid"][j].sum())  # valid vertices come first (padding after)
        verts = out["vertices"][j][:n_valid].astype(np.float64)
        q, ok, mean_conf = self.correspondences(crop, out, j)
        sym = SYMMETRY.get(inst.category, "none")
        centre, extents = mesh_box(verts, sym)
        top_visible = fitness = handle = network_deg = None  # measured from the depth only (size_and_pose, ...)
        source = "network"
        if int(ok.sum()) >= self.options.min_inliers:
            fit, _ = self.correspondence_fit(q, ok, crop)
            method = "ransac_umeyama"
            if not fit.success:
                return self._depth_only(frame, inst, geo, k, f"{method}: {fit.failure_reason}")
            R, t, size = fit.rotation, fit.translation + fit.scale * fit.rotation @ centre, fit.scale * extents
            if self.options.icp:
                obs = geo.points(frame, k)
                fit = refine_pose_icp(fit, verts, obs, max_correspondence_distance=self.icp_distance,
                                      refine_scale=True).fit
                alt = self._templates[inst.category].fit(frame, geo, k, starts=(fit,)) \
                    if inst.category in TEMPLATE_FITTED else "not template-fitted"
                if not isinstance(alt, str):  # the template's fit decides; the network's pose was one start
                    network_deg = float(np.degrees(relative_rotation_angle_np(alt.fit.rotation, fit.rotation)))
                    sized, fit, source = alt.sized, alt.fit, "template"
                else:
                    sized, handle = self._network_sized(frame, inst.category, geo, k, verts, obs, fit)
                R, t, size, top_visible = sized.rotation, sized.translation, sized.size, sized.top_visible
                fitness = sized.fit.fitness
        else:
            why = f"{int(ok.sum())} depth correspondences < min_inliers {self.options.min_inliers}"
            if self.use_depth and not lacks_depth(frame, geo, k, self.options.min_inliers):
                return self._depth_only(frame, inst, geo, k, why)  # the depth is there; the network's cells not
            if self.use_depth:
                stood = mask_on_plane(inst, verts, frame, geo, k, why)
                if stood is not None and stood.estimate is not None:
                    return stood  # else PnP, from a typical size, as without a plane
            solved = self._pnp_solve(out, j, crop, inst.category, centre, extents)
            if isinstance(solved, str):
                return InstanceResult(inst, None, solved)
            fit, method, R, t, size = solved
        check = check_size(inst.category, size)
        if check.size is None:
            if method == "ransac_umeyama":  # PnP ran for want of depth: the depth-only fit would have none either
                return self._depth_only(frame, inst, geo, k, f"{method}: {check.failure}")
            return InstanceResult(inst, None, f"{method}: {check.failure}")
        R = snap_if_upright(R, geo.up, self.options.upright_snap_deg)  # keeps yaw and box centre
        score = confidence_score(fitness, float(fit.inlier_ratio), mean_conf) * check.confidence_factor
        extras: dict = {"method": method, **geo.extras(k), "size_factor": check.factor,
                        "size_clamped": check.clamped, "top_visible": top_visible, "fitness": fitness,
                        "cycle_confidence": mean_conf, "pose_source": source}
        if network_deg is not None:
            extras["network_deg"] = network_deg
        if self.model.handle_head is not None and inst.category in HANDLE_CATEGORIES:
            extras["handle_visible"] = bool(out["handle_logit"][j] > 0.0)
        extras.update(handle_extras(handle))  # the handle found in the depth, when searched, outranks the head
        est = ObjectPoseEstimate(category=inst.category, instance=inst.instance, R=R, t=t,
                                 scale=float(np.linalg.norm(check.size)), size=check.size, confidence=score,
                                 inlier_ratio=fit.inlier_ratio, num_correspondences=fit.num_correspondences,
                                 extras=extras)
        return InstanceResult(inst, est)

    def _depth_only(self, frame: RGBDFrame, inst: Instance, geo: FrameGeometry, k: int, why: str
                    ) -> InstanceResult:
        """Instance ``k``'s estimate when the network's correspondences gave none (``why``): the depth-only
        baseline's (``template_estimate``; ``extras["method"]`` "depth_only"), or, without depth or when that fails
        too, no estimate with both reasons."""
        if not self.use_depth:
            return InstanceResult(inst, None, why)
        done = template_estimate(self._templates[inst.category], frame, inst, geo, k, self.options)
        if done.estimate is None:
            return InstanceResult(inst, None, f"{why}; depth only: {done.failure}")
        done.estimate.extras.update(method="depth_only", pose_source="template", network_failure=why)
        return done

    def _network_sized(self, frame: RGBDFrame, category: str, geo: FrameGeometry, k: int, verts: np.ndarray,
                       obs: np.ndarray, fit: PoseFit) -> tuple[SizedPose, Protrusion | None]:
        """The network mesh's (``verts`` (V, 3)) ICP ``fit`` to the points ``obs`` (N, 3), refitted upright when
        it stands tilted, sized per axis and, for a mug, turned to the handle found in the depth (a handle the
        depth misses is placed behind the body, as the depth-only baseline places it: ``handle_yaw``)."""
        sym = SYMMETRY.get(category, "none")
        samples, normals = self._samples(category, verts)
        if geo.up is not None and geo.support is not None \
                and tilt_deg(fit.rotation, geo.up) > self.options.upright_snap_deg:
            fit = prefer_upright(samples, obs, fit, geo.up, self.options.inlier_threshold,
                                 similarity_scale_bounds(category, mesh_box(verts, sym)[1]),
                                 revolution=sym == "continuous_y", max_points=UPRIGHT_POINTS)
        sized = size_and_pose(category, samples, obs, fit.rotation, fit.translation, fit.scale,
                              model_normals=normals, frame=frame, free=geo.free_space(frame, k),
                              plane=geo.support, up=geo.up, upright_deg=self.options.upright_snap_deg,
                              max_distance=self.icp_distance, box_points=verts,
                              blocked=geo.blocked(frame, k), cut_off=geo.cut_off(k))
        handle = None
        if category in HANDLE_CATEGORIES:
            sized, handle = turn_to_handle(category, sized, geo.handle_points(frame, k), geo.up)
        return sized, handle

    def correspondences(self, crop, out: dict, j: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Crop ``j``'s canonical point per crop pixel (S,S,3), the pixels the solver fits (confident, in the
        mask, with depth; (S,S) bool) and the mean cycle confidence in the mask."""
        inside, conf, mean_conf, threshold = self._cells(out, j)
        q, keep = dense_correspondences(out["points3d"][j].reshape(*inside.shape, 3), inside, conf, threshold,
                                        self.size)
        return q, keep & crop.mask & (crop.depth > 0), mean_conf

    def _cells(self, out: dict, j: int) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Crop ``j``'s in-mask feature cells ((h,w) bool), their cycle confidence (h,w), its mean in the mask
        (NaN without cells) and the confidence a cell needs to be used: min(that mean, conf_cap)."""
        inside = out["feature_mask"][j] > 0.5
        conf = out["cycle_confidence"][j].reshape(inside.shape)
        mean_conf = float(conf[inside].mean()) if inside.any() else float("nan")
        return inside, conf, mean_conf, min(mean_conf, self.conf_cap)

    def correspondence_fit(self, q: np.ndarray, ok: np.ndarray, crop) -> tuple[PoseFit, np.ndarray]:
        """RANSAC-Umeyama of the canonical points ``q[ok]`` to their depth points; return (fit, the points (N,3))."""
        X = backproject_np(crop.depth, crop.K, ok)  # row-major over ``ok``, as q[ok]
        fit = ransac_umeyama(q[ok].astype(np.float64), X, self.ransac_threshold,
                             max_iterations=self.options.ransac_iterations, min_inliers=self.options.min_inliers,
                             seed=0)
        return fit, X

    def _samples(self, category: str, verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Surface samples and normals of the predicted mesh (the checkpoint prior's faces over ``verts``)."""
        faces = np.asarray(self.ckpt.priors[category][1])
        if len(faces) == 0 or int(faces.max()) >= len(verts):
            return verts, np.zeros_like(verts)  # no usable faces: vertices, and no see-through term
        return surface_samples(verts, faces, SIZE_SAMPLES, seed=0)

    def _pnp_solve(self, out: dict, j: int, crop, category: str, centre: np.ndarray, extents: np.ndarray):
        """Without depth: PnP of the dense correspondences, else of the keypoint head's pixels, at the category's
        typical scale; (fit, method, R, box centre t, size) of the first that is plausible, or why neither is."""
        reasons = []
        for method, solver in (("dense_pnp", self._dense_pnp), ("keypoint_pnp", self._pnp)):
            fit = solver(out, j, crop, category)
            if not fit.success:
                reasons.append(f"{method}: {fit.failure_reason}")
                continue
            R, t, size = fit.rotation, fit.translation + fit.scale * fit.rotation @ centre, fit.scale * extents
            implausible = pnp_distance_check(float(t[2]), fit.scale, crop.mask, float(crop.K[0][0]))
            if implausible:
                reasons.append(f"{method}: {implausible}")
                continue
            return fit, method, R, t, size
        return "; ".join(reasons)

    def _dense_pnp(self, out: dict, j: int, crop, category: str):
        """PnP-RANSAC of the confident in-mask cells' canonical points at their crop pixels (typical scale)."""
        inside, conf, _, threshold = self._cells(out, j)
        good = (inside & (conf >= threshold)).reshape(-1)
        obj = out["points3d"][j].reshape(-1, 3)[good].astype(np.float64)
        img = np.asarray(out["pixel_xy"]).reshape(-1, 2)[good].astype(np.float64)
        return pnp_ransac(obj, img, crop.K, self.typical_scale(category), min_inliers=6, seed=0)

    def _pnp(self, out: dict, j: int, crop, category: str):
        idx = out["keypoint_indices"][j]
        obj = out["vertices"][j][idx].astype(np.float64)
        img = out["keypoint_pixels"][j].astype(np.float64)
        return pnp_ransac(obj, img, crop.K, self.typical_scale(category), min_inliers=6, seed=0)


def confidence_score(fitness: float | None, inlier_ratio: float, cycle_confidence: float) -> float:
    """An estimate's confidence before the size policy: the sized fit's ``fitness`` (share of the object's depth
    points within ``icp_distance`` of the posed mesh, as the baseline's inlier ratio) when depth refined it,
    else the correspondence fit's inlier ratio times the mean cycle confidence (RANSAC without ICP, PnP)."""
    if fitness is not None:
        return float(fitness)
    return float(inlier_ratio) * float(cycle_confidence)


@dataclass(frozen=True)
class _Blank:
    """A crop of the start-up warm-up (the fields ``_forward`` reads)."""

    rgb: np.ndarray
    mask: np.ndarray
    K: np.ndarray
