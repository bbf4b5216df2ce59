"""Acceptance of issue 11's robust instance geometry on the real simulator's frames:
- a mask dilated 10 px onto a background 0.3 m behind the object changes the fitted size by < 10 % and the
  centre by < 1 cm, for the depth-only back-end and for the learned back-end (oracle correspondences);
- without gravity, the support plane gives the up direction, and objects come out upright;
- no estimate ever reports a size outside its category's documented range (an untrained model included);
- the training pseudo-labels use the same object-surface selection.
"""

import numpy as np
import pytest
import torch
from bleeding import bleed
from scipy.spatial import cKDTree

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.data.crops import crop_instance
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import extract_instances
from selfpose_ros.geometry.upright import tilt_deg
from selfpose_ros.inference.cse_estimator import CSEEstimator
from selfpose_ros.inference.estimator import SolverOptions
from selfpose_ros.inference.prior_fit_estimator import PriorFitEstimator
from selfpose_ros.model.camera import downsample_mask, pixel_grid
from selfpose_ros.model.checkpoint import save_checkpoint
from selfpose_ros.model.cse_model import CSEConfig, CSEModel
from selfpose_ros.shapes.size_ranges import range_factor
from selfpose_ros.sim.scene import SceneConfig
from selfpose_ros.sim.simulator import SimConfig, SimScene
from selfpose_ros.train.model_priors import model_priors
from selfpose_ros.train.pseudo_labels import crop_points

CATS = ("bottle", "bowl", "can", "mug")
S = 64
BLEED_PX, BEHIND_M = 10, 0.3


def _frame(seed: int, width: int = 640, height: int = 480):
    cfg = SimConfig(
        width=width, height=height, num_frames=1, scene=SceneConfig(categories=CATS, min_objects=3, max_objects=3)
    )
    return SimScene(cfg, seed=seed).render(0)


def _rgbd(f, labels, depth, up: bool) -> RGBDFrame:
    return RGBDFrame(f.rgb, depth.astype(np.float32), labels, f.K, up=f.T_map_optical[2, :3].copy() if up else None)


def _estimate(est, f, labels, depth, up, label):
    instances, _ = extract_instances(labels, CATEGORIES, CATS, 50)
    results = est.estimate(_rgbd(f, labels, depth, up), instances)
    return {r.instance.label: r for r in results}[label]


def _assert_bleeding_changes_little(est, f, up: bool) -> int:
    checked = 0
    for o in f.objects:
        if o.visibility < 0.8:
            continue
        clean = _estimate(est, f, f.segmentation, f.depth_m, up, o.label)
        labels, depth = bleed(f.segmentation, f.depth_m, o.label, BLEED_PX, BEHIND_M)
        assert (labels == o.label).sum() > (f.segmentation == o.label).sum() * 1.2  # the mask really bleeds
        bled = _estimate(est, f, labels, depth, up, o.label)
        assert clean.estimate is not None and bled.estimate is not None, (clean.failure, bled.failure)
        a, b = clean.estimate, bled.estimate
        change = np.abs(b.size / a.size - 1.0).max()
        assert change < 0.10, (o.category, a.size, b.size)
        assert np.linalg.norm(b.t - a.t) < 0.01, (o.category, a.t, b.t)
        checked += 1
    return checked


@pytest.mark.parametrize("seed,up", [(0, True), (5, False)])
def test_depth_only_backend_survives_a_mask_bleeding_onto_the_background(seed, up):
    est = PriorFitEstimator(list(CATS), SolverOptions(min_inliers=15))
    assert _assert_bleeding_changes_little(est, _frame(seed), up) >= 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    priors = model_priors(CATS, 200)
    model = CSEModel(CSEConfig(image_size=S, width=8, projector_dims=(16, 16), num_keypoints=8), priors)
    path = tmp_path_factory.mktemp("cse") / "tiny.pt"
    save_checkpoint(path, model, priors)
    return path


def _oracle_forward(est: CSEEstimator, f):
    """A stand-in for the network: what a perfect model would output for each crop. Masked cells with
    depth get the true canonical point; masked cells without (the bleed the back-end removed, holes) get
    that of the nearest cell with one, as a model extending the object's embedding over the bleed would.
    A crop's object is the one of its category whose centre projects nearest the crop's centre."""

    def truth_of(c, cat):
        w = c.window
        centre = np.array([w.x0 + 0.5 * w.side, w.y0 + 0.5 * w.side])
        objs = [o for o in f.objects if o.category == cat]
        px = [f.K[:2, :2] @ (o.translation[:2] / o.translation[2]) + f.K[:2, 2] for o in objs]
        return objs[int(np.argmin([np.linalg.norm(p - centre) for p in px]))]

    def forward(crops, categories, net_depths=None):
        outs = []
        for c, cat in zip(crops, categories):
            gt = truth_of(c, cat)
            fm = downsample_mask(torch.from_numpy(c.mask[None].astype(np.float32)), 4)[0].numpy().reshape(-1)
            xy = pixel_grid(S // 4, S // 4, 4).numpy()
            u, v = np.round(xy[:, 0]).astype(int), np.round(xy[:, 1]).astype(int)
            d = c.depth[v, u]
            X = np.stack(((xy[:, 0] - c.K[0, 2]) / c.K[0, 0] * d, (xy[:, 1] - c.K[1, 2]) / c.K[1, 1] * d, d), 1)
            q = (X - gt.translation) @ gt.rotation / gt.scale
            good = (fm > 0.5) & (d > 0)
            fill = (fm > 0.5) & ~good
            if good.any() and fill.any():
                _, near = cKDTree(xy[good]).query(xy[fill])
                q[fill] = q[good][near]
            verts = np.asarray(est.ckpt.priors[cat][0], np.float32)
            outs.append(
                {
                    "points3d": (q * (fm > 0.5)[:, None]).astype(np.float32),
                    "cycle_confidence": fm,
                    "feature_mask": fm.reshape(S // 4, S // 4),
                    "pixel_xy": xy,
                    "vertices": verts,
                    "vertex_valid": np.ones(len(verts), bool),
                    "keypoint_pixels": np.zeros((8, 2), np.float32),
                    "keypoint_indices": np.arange(8),
                }
            )
        n = max(len(o["vertices"]) for o in outs)  # pad the meshes as the model does (valid vertices first)
        for o in outs:
            pad = n - len(o["vertices"])
            o["vertices"] = np.concatenate((o["vertices"], np.zeros((pad, 3), np.float32)))
            o["vertex_valid"] = np.concatenate((o["vertex_valid"], np.zeros(pad, bool)))
        return {k: np.stack([o[k] for o in outs]) for k in outs[0]}

    return forward


@pytest.mark.parametrize("seed,up", [(0, True), (7, False)])
def test_learned_backend_survives_a_mask_bleeding_onto_the_background(checkpoint, seed, up):
    f = _frame(seed)
    est = CSEEstimator(str(checkpoint), list(CATS), SolverOptions(min_inliers=10, inlier_threshold=0.005))
    est._forward = _oracle_forward(est, f)
    assert _assert_bleeding_changes_little(est, f, up) >= 2


def test_without_gravity_up_comes_from_the_support_plane_and_objects_stand_upright():
    f = _frame(3, 320, 240)
    est = PriorFitEstimator(list(CATS), SolverOptions(min_inliers=15))
    instances, _ = extract_instances(f.segmentation, CATEGORIES, CATS, 50)
    results = est.estimate(_rgbd(f, f.segmentation, f.depth_m, up=False), instances)
    up_true = f.T_map_optical[2, :3]
    truth = {o.label: o for o in f.objects}
    upright = 0
    for r in results:
        assert r.estimate is not None, r.failure
        assert r.estimate.extras["up_source"] == "support_plane"
        if truth[r.instance.label].visibility > 0.5:
            assert tilt_deg(r.estimate.R, up_true) < 5.0
            upright += 1
    assert upright >= 2
    # with the plane search off and no TF, nothing claims an up direction
    off = PriorFitEstimator(list(CATS), SolverOptions(min_inliers=15, support_plane=False))
    for r in off.estimate(_rgbd(f, f.segmentation, f.depth_m, up=False), instances):
        assert r.estimate is None or r.estimate.extras["up_source"] == "none"


def _all_results(est, frames):
    out = []
    for f in frames:
        o = f.objects[0]
        far = bleed(f.segmentation, f.depth_m, o.label, BLEED_PX, BEHIND_M)
        real = bleed(f.segmentation, f.depth_m, o.label, BLEED_PX, None)
        for (labels, depth), up in (
            ((f.segmentation, f.depth_m), True),
            ((f.segmentation, f.depth_m), False),
            (far, False),
            (real, True),
        ):
            instances, _ = extract_instances(labels, CATEGORIES, CATS, 50)
            out += est.estimate(_rgbd(f, labels, depth, up), instances)
    return out


def test_no_estimate_ever_reports_a_size_outside_its_category_range(checkpoint):
    frames = [_frame(seed, 320, 240) for seed in (1, 2)]
    prior = _all_results(PriorFitEstimator(list(CATS), SolverOptions(min_inliers=15)), frames)
    untrained = _all_results(CSEEstimator(str(checkpoint), list(CATS), SolverOptions(min_inliers=5)), frames)
    estimated = [r for r in prior + untrained if r.estimate is not None]
    assert len(estimated) >= 15  # the check below is not vacuous
    for r in estimated:
        e = r.estimate
        assert range_factor(e.category, e.size) == pytest.approx(1.0), (e.category, e.size)
        assert e.scale == pytest.approx(float(np.linalg.norm(e.size)))
        if e.extras["size_clamped"]:
            assert e.extras["size_factor"] > 1.0
    # an untrained model's sizes are far from any real object: the policy must have acted on some (clamped, failed,
    # or failed and replaced by the depth-only fit, which says why the network's estimate was not used)
    acted = [
        r
        for r in untrained
        if (r.estimate is not None and r.estimate.extras["size_clamped"]) or "size_out_of_range" in (r.failure or "")
        or (r.estimate is not None and "size_out_of_range" in r.estimate.extras.get("network_failure", ""))
    ]
    assert acted


def test_pseudo_label_points_keep_only_the_object_of_a_bleeding_crop():
    f = _frame(0, 320, 240)
    o = max(f.objects, key=lambda x: x.visible_pixels)
    labels, depth = bleed(f.segmentation, f.depth_m, o.label, BLEED_PX, BEHIND_M)
    crop = crop_instance(f.rgb, depth, labels == o.label, f.K, 96, 0.1)
    clean = crop_instance(f.rgb, f.depth_m, f.segmentation == o.label, f.K, 96, 0.1)
    pts = crop_points(crop.depth, crop.mask, crop.K)
    assert len(pts) > 50
    assert pts[:, 2].max() < clean.depth[clean.mask].max() + 0.02  # nothing from 0.3 m behind
