"""RGB-D network input (normalised depth, validity, normals), the shape head's per-axis proportions, and the
shape-size, plausibility and handle losses."""

import math

import pytest
import torch
import trimesh

from selfpose_ros.losses.shape_size import handle_visibility_loss, shape_plausibility_loss, shape_size_loss
from selfpose_ros.model.cse_model import CSEConfig, CSEModel
from selfpose_ros.model.depth_input import build_input, depth_normals, input_channels, normalised_depth
from selfpose_ros.model.shape import ShapeHead


def _K(f=50.0, c=15.5):
    return torch.tensor([[f, 0, c], [0, f, c], [0, 0, 1.0]]).expand(2, 3, 3)


def test_normalised_depth_is_relative_to_the_object_median_scaled_clipped_and_zero_without_reading():
    depth = torch.full((2, 1, 32, 32), 2.0)
    depth[:, :, 8:24, 8:24] = 1.0  # the object, 1 m away, in front of a wall 2 m away
    depth[0, 0, 10, 10] = 0.0  # a hole
    depth[0, 0, 11, 11] = float("nan")
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:24, 8:24] = 1
    norm, valid = normalised_depth(depth, mask, torch.tensor([0.2, 0.5]), clip=3.0)
    assert norm[0, 0, 12, 12] == 0 and norm[1, 0, 12, 12] == 0  # the object sits at 0
    assert norm[0, 0, 0, 0] == pytest.approx(3.0) and norm[1, 0, 0, 0] == pytest.approx(2.0)  # clipped; 1 m / 0.5
    assert valid[0, 0, 10, 10] == 0 and valid[0, 0, 11, 11] == 0 and norm[0, 0, 10, 10] == 0
    assert torch.isfinite(norm).all() and valid.sum() == 2 * 32 * 32 - 2
    # a crop without any reading is the RGB-only input
    x = build_input(torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32), mask, _K(), torch.ones(2), "rgbd")
    assert x.shape == (2, 5, 32, 32) and x[:, 3:].abs().sum() == 0
    assert torch.equal(build_input(x[:, :3], None, mask, _K(), torch.ones(2), "rgbd")[:, 3:], torch.zeros(2, 2, 32, 32))
    with pytest.raises(ValueError, match="unknown input mode"):
        input_channels("rgbdx")


def test_normals_of_a_fronto_parallel_plane_face_the_camera_and_vanish_at_holes():
    depth = torch.ones(2, 1, 32, 32)
    depth[1, 0, 5, 5] = 0
    n = depth_normals(depth, _K())
    assert torch.allclose(n[0, :, 4:-4, 4:-4], torch.tensor([0, 0, -1.0]).view(3, 1, 1).expand(3, 24, 24), atol=1e-5)
    assert n[1, :, 5, 5].abs().sum() == 0 and n[1, :, 5, 6].abs().sum() == 0  # no support next to the hole


def test_rgbd_model_takes_depth_and_an_rgb_model_ignores_it():
    mesh = trimesh.creation.box((0.5, 0.6, 0.6))
    prior = {"mug": (mesh.vertices, mesh.faces), "camera": (mesh.vertices * 0.9, mesh.faces)}
    torch.manual_seed(0)
    cfg = CSEConfig(image_size=32, width=4, projector_dims=(8, 8), num_keypoints=8, input="rgbd", handle_head=True)
    model = CSEModel(cfg, prior, {"mug": 0.12}).eval()
    assert model.depth_scale.tolist() == pytest.approx([0.12, 0.2])  # unknown categories: the default size
    rgb, mask = torch.rand(2, 3, 32, 32), torch.ones(2, 32, 32)
    depth = 1.0 + 0.05 * torch.rand(2, 1, 32, 32)
    a = model(rgb, mask, ["mug", "camera"], _K(), depth)
    b = model(rgb, mask, ["mug", "camera"], _K(), None)
    assert not torch.allclose(a.global_feature, b.global_feature) and a.handle_logit.shape == (2,)
    rgb_model = CSEModel(CSEConfig(image_size=32, width=4, projector_dims=(8, 8), num_keypoints=8), prior).eval()
    c = rgb_model(rgb, mask, ["mug", "camera"], _K(), depth)
    assert torch.allclose(c.global_feature, rgb_model(rgb, mask, ["mug", "camera"], _K()).global_feature)
    assert torch.equal(c.handle_logit, torch.zeros(2))


def test_shape_axes_change_proportions_keep_a_unit_diagonal_and_tie_x_to_z_for_revolution():
    mesh = trimesh.creation.box((0.4, 0.8, 0.4))
    v = torch.tensor(mesh.vertices, dtype=torch.float32)
    v = v / (v.amax(0) - v.amin(0)).norm()
    head = ShapeHead(v, torch.tensor(mesh.faces), global_dim=8, axes=True, tie_xz=True)
    with torch.no_grad():
        head.axes.bias.copy_(torch.tensor([0.3, -0.2, 0.1]))
    with torch.no_grad():
        verts, _, log_s = head(torch.zeros(1, 8))
    assert log_s[0, 0] == pytest.approx(log_s[0, 2].item()) == pytest.approx(0.2)  # tied: mean of x and z
    ext = verts[0].amax(0) - verts[0].amin(0)
    assert ext.norm().item() == pytest.approx(1.0, abs=1e-3)
    assert torch.allclose(ext, head.normalised_extents(log_s)[0], atol=1e-3)
    assert (ext[1] / ext[0]).item() == pytest.approx(2.0 * math.exp(-0.4), rel=1e-3)


def test_size_plausibility_and_handle_losses_are_zero_at_the_answer_and_grow_away_from_it():
    target = torch.tensor([[0.06, 0.12, 0.06], [0.1, 0.05, 0.1]])  # metres
    unit = target / target.norm(dim=1, keepdim=True)
    valid = torch.tensor([True, True])
    assert shape_size_loss(unit, target, valid) == 0
    pred = unit.clone().requires_grad_(True)
    wrong = torch.tensor([[0.5, 0.7, 0.5], [0.5, 0.7, 0.5]])
    assert shape_size_loss(wrong, target, valid) > 0.1
    assert shape_size_loss(wrong, target, torch.tensor([False, False])) == 0
    shape_size_loss(pred * 1.1, target, valid).backward()
    assert torch.isfinite(pred.grad).all()
    lo, hi = torch.log(unit) - 0.1, torch.log(unit) + 0.1
    assert shape_plausibility_loss(unit, lo, hi) == 0 and shape_plausibility_loss(wrong, lo, hi) > 0
    logit = torch.tensor([5.0, -5.0])
    assert handle_visibility_loss(logit, torch.tensor([True, False]), valid) < 0.01
    assert handle_visibility_loss(logit, torch.tensor([False, True]), valid) > 4
