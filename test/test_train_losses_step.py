"""Label terms, the per-step loss composition, augmentation and the learning-rate schedule."""

import math

import pytest
import torch

from selfpose_ros.geometry.rotations import random_rotations
from selfpose_ros.losses.pose_labels import (
    cell_depth,
    label_canonical_points,
    label_coords_loss,
    label_pose_losses,
    label_vertex_loss,
    yaw_rotations,
)
from selfpose_ros.losses.step import StepInputs, compute_losses
from selfpose_ros.losses.weights import LossWeights
from selfpose_ros.model.cse_model import CSEConfig, CSEModel
from selfpose_ros.train.augment import colour_jitter
from selfpose_ros.train.config import AugmentConfig, LabelWeights, LossOptions
from selfpose_ros.train.model_priors import model_priors
from selfpose_ros.train.trainer import lr_factor


def test_cell_depth_averages_valid_readings_only():
    depth = torch.zeros(1, 1, 8, 8)
    depth[0, 0, :4, :4] = 2.0
    depth[0, 0, 0, 0] = 0.0  # a hole
    depth[0, 0, 4:, 4:] = 1.0
    mask = torch.ones(1, 1, 8, 8)
    mask[0, 0, 4:, 4:] = 0.0  # the 1 m block is not the object
    cells = cell_depth(depth, mask, 4)
    assert cells.shape == (1, 2, 2)
    assert cells[0, 0, 0] == 2.0 and cells[0, 1, 1] == 0.0 and cells[0, 0, 1] == 0.0


def test_label_canonical_points_invert_the_label_pose():
    g = torch.Generator().manual_seed(0)
    R = random_rotations(2, g, dtype=torch.float32)
    s = torch.tensor([0.2, 0.1])
    t = torch.tensor([[0.05, -0.02, 0.8], [0.0, 0.1, 0.6]])
    K = torch.tensor([[100.0, 0, 32], [0, 100, 32], [0, 0, 1]]).expand(2, 3, 3)
    q = torch.rand(2, 5, 3, generator=g) - 0.5
    X = s.view(2, 1, 1) * torch.einsum("bij,bpj->bpi", R, q) + t.unsqueeze(1)
    xy = torch.stack((K[0, 0, 0] * X[..., 0] / X[..., 2] + 32, K[0, 1, 1] * X[..., 1] / X[..., 2] + 32), -1)
    # one "cell" per point: pass the pixels for each sample by looping (pixel_xy is shared across the batch)
    for b in range(2):
        got = label_canonical_points(xy[b], X[b:b + 1, :, 2], K[b:b + 1], s[b:b + 1], R[b:b + 1], t[b:b + 1])
        assert torch.allclose(got[0], q[b], atol=1e-4)


def test_label_coords_loss_is_zero_at_the_answer_and_yaw_free_only_for_symmetric_categories():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(2, 30, 3, generator=g) - 0.5
    w = torch.ones(2, 30)
    pts = target.clone().requires_grad_(True)
    loss = label_coords_loss(pts, target, w, ["bowl", "mug"])
    assert float(loss) == 0.0
    loss.backward()
    assert torch.isfinite(pts.grad).all()
    yawed = torch.einsum("ij,bpj->bpi", yaw_rotations(24)[5], target)  # 75 degrees about +Y
    assert float(label_coords_loss(yawed, target, w[:1].expand(2, -1), ["bowl", "bowl"])) < 1e-6
    assert float(label_coords_loss(yawed, target, w, ["mug", "mug"])) > 0.01
    zero_w = torch.zeros(2, 30)
    assert float(label_coords_loss(yawed, target, zero_w, ["mug", "mug"])) == 0.0


def test_label_vertex_loss_rewards_the_match_on_the_nearest_vertex_and_skips_symmetric_samples():
    g = torch.Generator().manual_seed(3)
    vertices = torch.rand(3, 20, 3, generator=g) - 0.5
    valid = torch.ones(3, 20, dtype=torch.bool)
    cells = torch.arange(20) % 12  # cell p lies on vertex p % 12 (p < 20 cells)
    target = vertices[:, cells] + 0.001
    w = torch.ones(3, 20)
    right = torch.full((3, 20, 20), 1e-4)
    right[:, torch.arange(20), cells] = 1.0
    right = right / right.sum(-1, keepdim=True)
    wrong = right.roll(1, dims=2)  # the mass one vertex off
    cats = ["camera", "mug", "laptop"]
    low = label_vertex_loss(right, vertices, valid, target, w, cats)
    high = label_vertex_loss(wrong, vertices, valid, target, w, cats)
    assert float(low) < 0.01 and float(high) > 5.0
    # a cell whose target is far from every vertex, a zero weight, and a padded vertex change nothing / are skipped
    far = target.clone()
    far[:, 0] += 10.0
    w0 = w.clone()
    w0[:, 1] = 0.0
    assert float(label_vertex_loss(wrong, vertices, valid, far, w0, cats)) == pytest.approx(float(high), rel=0.05)
    pad = valid.clone()
    pad[:, 19] = False
    assert torch.isfinite(label_vertex_loss(right, vertices, pad, target, w, cats))
    # continuous-y categories and hidden-handle mugs have no unique vertex: no term, but a graph to backprop
    m = wrong.clone().requires_grad_(True)
    none = label_vertex_loss(m, vertices, valid, target, w, ["bowl", "mug", "can"],
                             symmetric=torch.tensor([False, True, False]))
    assert float(none) == 0.0
    none.backward()
    assert m.grad is not None
    with pytest.raises(ValueError, match="disagree"):
        label_vertex_loss(right, vertices, valid, target, w, cats[:2])


def test_label_pose_losses_respect_symmetry_and_validity():
    R = random_rotations(2, torch.Generator().manual_seed(2), dtype=torch.float32)
    yaw = yaw_rotations(8)[3]
    t = torch.tensor([[0.1, 0.0, 3.0], [0.0, 0.0, 4.0]])
    rot, trans = label_pose_losses(R @ yaw, t, R, t, torch.tensor([True, True]), ["can", "can"])
    assert float(rot) < 1e-10 and float(trans) == 0.0
    rot, _ = label_pose_losses(R @ yaw, t, R, t, torch.tensor([True, True]), ["mug", "mug"])
    assert float(rot) > 0.1
    rot, trans = label_pose_losses(R @ yaw, t + 1, R, t, torch.tensor([False, False]), ["mug", "mug"])
    assert float(rot) == 0.0 and float(trans) == 0.0


def test_colour_jitter_is_seeded_bounded_and_the_identity_without_ranges():
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    cfg = AugmentConfig()
    a = colour_jitter(x, cfg, torch.Generator().manual_seed(5))
    b = colour_jitter(x, cfg, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, x) and a.min() >= 0 and a.max() <= 1
    off = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, grayscale=0)
    assert torch.equal(colour_jitter(x, off, torch.Generator()), x)
    grey = colour_jitter(x, AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, grayscale=1.0),
                         torch.Generator().manual_seed(0))
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    with pytest.raises(ValueError, match="rgb must be"):
        colour_jitter(x[:, :2], cfg, torch.Generator())


def test_lr_factor_warms_up_then_decays_by_cosine():
    assert lr_factor(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)


def _synthetic_inputs(model: CSEModel, labels: bool) -> tuple:
    g = torch.Generator().manual_seed(3)
    B, S = 4, 64
    rgb = torch.rand(B, 3, S, S, generator=g)
    mask = torch.zeros(B, 1, S, S)
    mask[:, :, 16:48, 12:52] = 1.0
    depth = (0.6 + 0.05 * torch.rand(B, 1, S, S, generator=g)) * mask
    K = torch.tensor([[80.0, 0, 32], [0, 80, 32], [0, 0, 1]]).expand(B, 3, 3).contiguous()
    cats = ["mug", "mug", "bowl", "bowl"]
    T = torch.eye(4).expand(B, B, 4, 4).clone()
    T[..., 0, 3] = 0.01  # a small sideways camera motion between every pair
    group = torch.tensor([0, 0, 1, 2])
    pairs = torch.tensor([[0, 1], [1, 0]])
    extra = {}
    if labels:
        extra = {"label_valid": torch.tensor([True, True, True, False]), "label_scale": torch.full((B,), 0.15),
                 "label_rot": torch.eye(3).expand(B, 3, 3), "label_trans": torch.tensor([[0.0, 0.0, 0.6]] * B)}
    inp = StepInputs(rgb=rgb, depth=depth, mask=mask, K=K, T_BA=T, pairs=pairs, triplets=torch.tensor([[0, 1, 0]]),
                     group=group, frame_index=torch.tensor([0, 3, 0, 0]), videos=2, frames=2,
                     z2=torch.rand(B, 16, generator=g), teacher_pixels=None, **extra)
    return inp, cats


@pytest.mark.parametrize("labels", [False, True])
def test_compute_losses_gives_finite_terms_and_gradients(labels):
    torch.manual_seed(0)
    model = CSEModel(CSEConfig(image_size=64, width=8, projector_dims=(16, 16), num_keypoints=8),
                     model_priors(("mug", "bowl"), 40))
    inp, cats = _synthetic_inputs(model, labels)
    with torch.no_grad():
        inp.teacher_pixels = model.decoder(model.encoder(inp.rgb)[0])[0]
    out = model(inp.rgb, inp.mask[:, 0], cats, inp.K)
    meshes = {c: (h.num_vertices, h.faces) for c, h in model.shape_heads.items()}
    w = LossWeights(contrastive=0.1)
    total, terms, extras = compute_losses(out, inp, w, LabelWeights(), LossOptions(render_size=16, render_samples=2),
                                          meshes, torch.Generator().manual_seed(0))
    expected = {"mask", "depth", "imatch", "match", "symmetry", "deformation", "ego_cycle", "ego_point",
                "ego_similarity", "pose_consistency", "cross_instance", "traj", "vicreg", "keypoints"}
    if labels:
        expected |= {"label_coords", "label_rotation", "label_translation"}
    assert expected <= set(terms), expected - set(terms)
    assert all(math.isfinite(v) for v in terms.values())
    assert extras["render"].mask.shape == (2, 16, 16)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(gr).all() for gr in grads)
    # zero weights: those terms are not computed at all
    quiet = LossWeights(mask=0, depth=0, texture=0, imatch=0, match=0, ego_cycle=0, ego_point=0, ego_similarity=0,
                        pose_consistency=0, cross_instance=0, traj=0, vicreg=0, keypoints=0)
    _, terms2, extras2 = compute_losses(out, inp, quiet, LabelWeights(), LossOptions(render_size=16), meshes)
    assert "render" not in extras2 and not ({"mask", "ego_cycle", "traj", "vicreg"} & set(terms2))
