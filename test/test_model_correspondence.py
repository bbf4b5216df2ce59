"""Correspondence softmaxes, cycle confidence, FPS, soft-argmax and keypoint proxy targets."""

import pytest
import torch
import torch.nn.functional as F

from selfpose_ros.model.camera import pixel_grid
from selfpose_ros.model.correspondence import correspond
from selfpose_ros.model.keypoint_head import (
    farthest_point_sampling,
    gaussian_heatmaps,
    proxy_keypoint_targets,
    soft_argmax,
)


def _random_case(B=2, D=8, h=6, w=5, N=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    pix = F.normalize(torch.randn(B, D, h, w, generator=g), dim=1)
    vert = F.normalize(torch.randn(B, N, D, generator=g), dim=-1)
    xyz = torch.randn(B, N, 3, generator=g)
    mask = (torch.rand(B, h, w, generator=g) > 0.4).float()
    mask[:, 0, 0] = 1.0
    return pix, vert, xyz, mask, pixel_grid(h, w, 4)


def test_softmaxes_are_normalised_and_mask_zeroes_pixels():
    pix, vert, xyz, mask, xy = _random_case()
    valid = torch.ones(2, 7, dtype=torch.bool)
    valid[1, 5:] = False
    c = correspond(pix, vert, xyz, mask, xy, tau=0.1, vertex_valid=valid)
    m = mask.reshape(2, -1) > 0.5
    rows = c.match_2d3d.sum(-1)
    assert torch.allclose(rows[m], torch.ones(int(m.sum())), atol=1e-5)
    assert torch.all(rows[~m] == 0)
    cols = c.match_3d2d.sum(1)
    assert torch.allclose(cols[valid], torch.ones(int(valid.sum())), atol=1e-5)
    assert torch.all(cols[~valid] == 0)
    assert torch.all(c.match_3d2d.permute(0, 2, 1)[~m.unsqueeze(1).expand(-1, 7, -1)] == 0)
    assert torch.all(c.match_2d3d[1, :, 5:] == 0)  # padded vertices never matched
    assert torch.all(c.cycle_confidence[~m] == 0)
    # expected pixels lie in the hull of the in-mask pixel centres
    vp = c.vertex_pixels[valid]
    assert torch.all(vp >= xy.min(0).values) and torch.all(vp <= xy.max(0).values)


def test_points3d_are_expectations_over_vertices():
    pix, vert, xyz, mask, xy = _random_case(seed=1)
    c = correspond(pix, vert, xyz, mask, xy, tau=0.5)
    sim = torch.einsum("bdp,bnd->bpn", pix.flatten(2), vert) / 0.5
    expected = torch.softmax(sim, -1) @ xyz
    m = mask.reshape(2, -1) > 0.5
    assert torch.allclose(c.points3d[m], expected[m], atol=1e-5)


def test_one_to_one_embeddings_give_full_cycle_confidence():
    # 4 pixels, 4 vertices, pixel i embeds exactly like vertex i: both maps become permutations.
    emb = torch.eye(4).unsqueeze(0)
    pix = emb.transpose(1, 2).reshape(1, 4, 2, 2)
    xyz = torch.randn(1, 4, 3)
    c = correspond(pix, emb, xyz, torch.ones(1, 2, 2), pixel_grid(2, 2, 4), tau=0.01)
    assert torch.allclose(c.points3d, xyz, atol=1e-4)
    assert torch.allclose(c.vertex_pixels, pixel_grid(2, 2, 4).unsqueeze(0), atol=1e-3)
    assert torch.allclose(c.cycle_confidence, torch.ones(1, 4), atol=1e-3)
    # a vertex map swapped between two pixels breaks the cycle for them only
    c2 = correspond(pix, emb[:, [1, 0, 2, 3]], xyz, torch.ones(1, 2, 2), pixel_grid(2, 2, 4), tau=0.01)
    assert torch.allclose(c2.cycle_confidence[0, 2:], torch.ones(2), atol=1e-3)


def test_correspondence_rejects_empty_mask_and_bad_tau():
    pix, vert, xyz, mask, xy = _random_case()
    mask[1] = 0
    with pytest.raises(ValueError, match="empty object mask"):
        correspond(pix, vert, xyz, mask, xy)
    with pytest.raises(ValueError, match="tau"):
        correspond(pix, vert, xyz, torch.ones_like(mask), xy, tau=0.0)


def test_correspondence_gradients_are_finite():
    pix, vert, xyz, mask, xy = _random_case()
    pix.requires_grad_(True)
    vert.requires_grad_(True)
    c = correspond(pix, vert, xyz, mask, xy)
    (c.points3d.sum() + c.vertex_pixels.sum() + c.cycle_confidence.sum()).backward()
    assert torch.isfinite(pix.grad).all() and torch.isfinite(vert.grad).all()
    assert pix.grad.abs().sum() > 0


def test_farthest_point_sampling_spreads_points():
    pts = torch.tensor([[float(i), 0.0, 0.0] for i in range(11)])
    assert farthest_point_sampling(pts, 3).tolist() == [0, 10, 5]
    batched = farthest_point_sampling(torch.stack((pts, pts.flip(0))), 2)
    assert batched.tolist() == [[0, 10], [0, 10]]
    with pytest.raises(ValueError):
        farthest_point_sampling(pts, 12)


def test_soft_argmax_and_gaussian_targets_agree():
    xy = pixel_grid(8, 8, 4)
    centres = torch.tensor([[[9.5, 21.5], [25.5, 5.5]]])
    heat = gaussian_heatmaps(centres, xy, (8, 8), sigma=2.0)
    assert heat.shape == (1, 2, 8, 8) and torch.isclose(heat.max(), torch.tensor(1.0))
    assert torch.allclose(soft_argmax(heat * 100.0, xy), centres, atol=1e-3)
    vertex_pixels = torch.tensor([[[0.0, 0.0], [9.5, 21.5], [25.5, 5.5]]])
    target = proxy_keypoint_targets(vertex_pixels, torch.tensor([[1, 2]]), xy, (8, 8), 2.0)
    assert torch.allclose(target, heat)
