"""Soft rasteriser: finite-difference gradients, hard limit vs analytic masks, chunking, depth, colours."""

import math

import pytest
import torch
import trimesh

from selfpose_ros.model.soft_renderer import render_soft, transform_vertices

K_TINY = torch.tensor([[4.1, 0, 3.17], [0, 3.9, 2.93], [0, 0, 1]], dtype=torch.float64)
PYRAMID_F = torch.tensor([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])


def _pyramid():
    return torch.tensor(
        [[[-0.41, -0.33, 2.03], [0.52, -0.37, 2.21], [0.46, 0.43, 1.93], [-0.53, 0.47, 2.11], [0.03, -0.02, 1.62]]],
        dtype=torch.float64,
    )


@pytest.mark.parametrize("max_pairs", [10**6, 40])
def test_gradients_match_finite_differences(max_pairs):
    V = _pyramid().requires_grad_(True)
    C = torch.rand(1, 5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)

    def fn(V, C):
        r = render_soft(V, PYRAMID_F, K_TINY, (6, 7), colours=C, sigma=0.7, gamma=0.3, cutoff=1e4, max_pairs=max_pairs)
        return r.mask, r.depth, r.colour

    assert torch.autograd.gradcheck(fn, (V, C), eps=1e-6, atol=1e-5, fast_mode=max_pairs < 1000)


def test_chunking_and_cutoff_do_not_change_the_result():
    V = _pyramid()
    C = torch.rand(1, 5, 3, dtype=torch.float64)
    full = render_soft(V, PYRAMID_F, K_TINY, (6, 7), colours=C, sigma=0.7, cutoff=1e4)
    chunked = render_soft(V, PYRAMID_F, K_TINY, (6, 7), colours=C, sigma=0.7, cutoff=1e4, max_pairs=5)
    cut = render_soft(V, PYRAMID_F, K_TINY, (6, 7), colours=C, sigma=0.7, cutoff=30.0)
    for a, b in ((full, chunked), (full, cut)):
        assert torch.allclose(a.mask, b.mask, atol=1e-9)
        assert torch.allclose(a.depth, b.depth, atol=1e-6)
        assert torch.allclose(a.colour, b.colour, atol=1e-6)


def _rectangle(z=2.0):
    # Rectangle covering u in [2.3, 6.7], v in [3.2, 5.6] with f = 4, c = 4.5 at depth z; no pixel
    # centre lies on its edges or on its diagonal.
    corners = [(2.3, 3.2), (6.7, 3.2), (6.7, 5.6), (2.3, 5.6)]
    V = torch.tensor([[((u - 4.5) / 4 * z, (v - 4.5) / 4 * z, z) for u, v in corners]])
    K = torch.tensor([[4.0, 0, 4.5], [0, 4.0, 4.5], [0, 0, 1]])
    return V, torch.tensor([[0, 1, 2], [0, 2, 3]]), K


def test_hard_limit_matches_analytic_rectangle():
    V, F, K = _rectangle()
    r = render_soft(V, F, K, (10, 10), colours=torch.ones(1, 4, 3) * 0.7, sigma=1e-5)
    expected = torch.zeros(10, 10)
    expected[4:6, 3:7] = 1.0  # rows v = 4, 5; columns u = 3..6
    assert torch.allclose(r.mask[0], expected, atol=1e-6)
    assert torch.allclose(r.depth[0][expected > 0], torch.full((8,), 2.0), atol=1e-5)
    assert torch.allclose(r.colour[0][:, expected > 0], torch.full((3, 8), 0.7), atol=1e-5)
    assert torch.all(r.colour[0][:, expected == 0] < 1e-5)


def test_soft_mask_is_blurred_but_centred():
    V, F, K = _rectangle()
    sharp = render_soft(V, F, K, (10, 10), sigma=1e-5).mask
    soft = render_soft(V, F, K, (10, 10), sigma=1.0).mask
    assert 0.05 < soft[0, 4, 2] < 0.95  # pixel 0.3 px outside the left edge
    assert soft[0, 0, 0] < 1e-6 and soft[0, 5, 5] > 0.5
    assert (soft - sharp).abs().max() < 1.0


def test_nearest_surface_wins_depth_and_colour():
    V1, F, K = _rectangle(2.0)
    V2, _, _ = _rectangle(3.0)
    V = torch.cat((V2, V1), dim=1)  # far rectangle first
    faces = torch.cat((F, F + 4))
    cols = torch.cat((torch.zeros(1, 4, 1), torch.ones(1, 4, 1)), dim=1)
    r = render_soft(V, faces, K, (10, 10), colours=cols, sigma=1e-3, gamma=0.01)
    assert torch.isclose(r.depth[0, 5, 4], torch.tensor(2.0), atol=1e-4)
    assert torch.isclose(r.colour[0, 0, 5, 4], torch.tensor(1.0), atol=1e-4)


def test_sphere_silhouette_area_and_front_depth():
    m = trimesh.creation.icosphere(subdivisions=3)
    V = torch.tensor(m.vertices, dtype=torch.float32).unsqueeze(0) * 0.5
    R = torch.eye(3).unsqueeze(0)
    t = torch.tensor([[0.0, 0.0, 2.0]])
    K = torch.tensor([[40.0, 0, 15.5], [0, 40.0, 15.5], [0, 0, 1]])
    r = render_soft(transform_vertices(V, R, t), torch.tensor(m.faces), K, (32, 32), sigma=1e-3)
    radius = 40 * 0.5 / math.sqrt(2.0**2 - 0.5**2)  # silhouette radius of a sphere in pixels
    area = math.pi * radius**2
    assert abs(float(r.mask.sum()) - area) < 0.06 * area
    assert abs(float(r.depth[0, 15, 15]) - 1.5) < 0.01


def test_face_valid_and_near_plane_drop_faces():
    V, F, K = _rectangle()
    r = render_soft(V, F, K, (10, 10), sigma=1e-5, face_valid=torch.tensor([[True, False]]))
    full = render_soft(V, F, K, (10, 10), sigma=1e-5)
    assert 0 < r.mask.sum() < full.mask.sum()
    behind = V.clone()
    behind[..., 2] = -1.0
    assert render_soft(behind, F, K, (10, 10)).mask.abs().max() == 0


def test_batched_render_matches_single_renders_and_grads_are_finite():
    V, F, K = _rectangle()
    V2 = V + torch.tensor([0.1, -0.05, 0.3])
    both = torch.cat((V, V2)).requires_grad_(True)
    r = render_soft(both, F, K, (10, 10), colours=torch.rand(2, 4, 3), sigma=0.5)
    single = render_soft(V2, F, K, (10, 10), sigma=0.5)
    assert torch.allclose(r.mask[1], single.mask[0], atol=1e-6)
    (r.mask.sum() + r.depth.sum() + r.colour.sum()).backward()
    assert torch.isfinite(both.grad).all() and both.grad.abs().sum() > 0


def test_bad_inputs_raise():
    V, F, K = _rectangle()
    with pytest.raises(ValueError, match="faces index"):
        render_soft(V, F + 10, K, (4, 4))
    with pytest.raises(ValueError, match="sigma"):
        render_soft(V, F, K, (4, 4), sigma=0.0)
    with pytest.raises(ValueError, match="colours"):
        render_soft(V, F, K, (4, 4), colours=torch.ones(1, 3, 3))
