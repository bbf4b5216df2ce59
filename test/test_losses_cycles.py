"""Instance cycles, ego-motion cross-time cycle, and cross-instance cycle with an EMA teacher."""

import pytest
import torch
import torch.nn.functional as F

from selfpose_ros.losses.cross_instance import EMATeacher, cross_instance_cycle_loss, mutual_nearest_pairs
from selfpose_ros.losses.cycle_transfer import forward_cycle_loss, transfer_pixels
from selfpose_ros.losses.ego_motion import ego_cycle_loss, ego_pixel_pairs, ego_point_loss, ego_similarity_loss
from selfpose_ros.losses.instance_cycles import cycle_2d3d_loss, cycle_3d2d_loss, visibility_weights
from selfpose_ros.model.camera import backproject_pixels, pixel_grid, project_points

K = torch.tensor([[[40.0, 0, 7.5], [0, 40.0, 7.5], [0, 0, 1]]])


def _pose():
    c, s = torch.cos(torch.tensor(0.4)), torch.sin(torch.tensor(0.4))
    R = torch.tensor([[[c, 0, s], [0, 1, 0], [-s, 0, c]]])
    return R, torch.tensor([[0.05, -0.02, 2.5]])


def test_instance_cycle_2d3d_zero_when_points_reproject_onto_their_pixels():
    R, t = _pose()
    xy = pixel_grid(16, 16, 1)
    depth = torch.full((1, 256), 2.4)
    cam = backproject_pixels(xy.unsqueeze(0), depth, K)
    canon = torch.einsum("bji,bnj->bni", R, cam - t.unsqueeze(1)).requires_grad_(True)  # R^T (X - t)
    weight = torch.ones(1, 256)
    loss = cycle_2d3d_loss(canon, xy, weight, R, t, K, pixel_scale=16.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-8)
    shifted = (canon.detach() + torch.tensor([0.05, 0.0, 0.0])).requires_grad_(True)
    bad = cycle_2d3d_loss(shifted, xy, weight, R, t, K, 16.0)
    assert bad.item() > 1e-3
    bad.backward()
    assert torch.isfinite(shifted.grad).all()
    with pytest.raises(ValueError, match="pixel_scale"):
        cycle_2d3d_loss(canon, xy, weight, R, t, K, 0.0)


def test_instance_cycle_3d2d_and_visibility():
    verts = torch.tensor([[[0.0, 0.0, 2.0], [0.1, 0.0, 2.5], [5.0, 0.0, 2.0]]])
    depth = torch.full((1, 16, 16), 2.0)
    vis = visibility_weights(verts, depth, K)
    assert vis[0, 0].item() == pytest.approx(1.0, abs=1e-5)  # on the rendered surface
    assert vis[0, 1].item() == pytest.approx(float(torch.exp(torch.tensor(-2.5))), rel=1e-3)  # 0.5 behind it
    assert vis[0, 2].item() < 1e-3  # projects outside the image
    p = project_points(verts, K)
    p_req = p.clone().requires_grad_(True)
    assert cycle_3d2d_loss(p_req, verts, K, vis, 16.0).item() == pytest.approx(0.0, abs=1e-10)
    off = cycle_3d2d_loss(p_req + 1.6, verts, K, vis, 16.0)
    assert off.item() == pytest.approx(2 * 0.1**2, rel=1e-4)
    off.backward()
    assert torch.isfinite(p_req.grad).all()


def _plane_pair(shift_x=0.1, depth=2.0, h=16):
    d = torch.full((1, h, h), depth)
    m = torch.ones(1, h, h)
    T = torch.eye(4).unsqueeze(0)
    T[0, 0, 3] = shift_x  # X_B = X_A + t: pixels move by f * t / z = 2 px to the right
    return d, m, T


def test_ego_pixel_pairs_are_exact_and_respect_bounds_and_occlusion():
    d, m, T = _plane_pair()
    pairs = ego_pixel_pairs(d, m, K, T, d, m, K, stride=1)
    xy = pixel_grid(16, 16, 1)
    assert torch.allclose(pairs.pixels_b[0], xy + torch.tensor([2.0, 0.0]), atol=1e-4)
    valid = pairs.valid[0].reshape(16, 16)
    assert valid[:, :14].all() and not valid[:, 14:].any()  # mapped outside B
    occluded = d.clone()
    occluded[0, :, 8:] = 1.0  # something in front in B
    pv = ego_pixel_pairs(d, m, K, T, occluded, m, K, stride=1).valid[0].reshape(16, 16)
    assert pv[:, :6].all() and not pv[:, 6:].any()
    no_mask = m.clone()
    no_mask[0, :8] = 0
    assert not ego_pixel_pairs(d, no_mask, K, T, d, m, K, stride=1).valid[0].reshape(16, 16)[:8].any()


def test_ego_losses_zero_for_consistent_maps_and_positive_otherwise():
    d, m, T = _plane_pair()
    pairs = ego_pixel_pairs(d, m, K, T, d, m, K, stride=1)
    g = torch.Generator().manual_seed(0)
    # A canonical-point map of B; A's is B's read at the paired pixels (2 columns to the right).
    q_b = torch.randn(1, 16, 16, 3, generator=g)
    q_a = torch.roll(q_b, shifts=-2, dims=2).reshape(1, 256, 3).requires_grad_(True)
    assert ego_point_loss(q_a, q_b.reshape(1, 256, 3), pairs).item() == pytest.approx(0.0, abs=1e-10)
    wrong = ego_point_loss(q_b.reshape(1, 256, 3).requires_grad_(True), q_b.reshape(1, 256, 3), pairs)
    assert wrong.item() > 0.1
    w_b = torch.softmax(torch.randn(1, 16, 16, 5, generator=g) * 3, dim=-1)
    w_a = torch.roll(w_b, shifts=-2, dims=2).reshape(1, 256, 5).requires_grad_(True)
    assert ego_similarity_loss(w_a, w_b.reshape(1, 256, 5), pairs).item() == pytest.approx(0.0, abs=1e-7)
    sim_bad = ego_similarity_loss(w_b.reshape(1, 256, 5).requires_grad_(True), w_b.reshape(1, 256, 5), pairs)
    assert sim_bad.item() > 0.05
    sim_bad.backward()
    # 4-step cycle: vertex n sits at pixel p_B(n); A's pixels put all mass on the vertex at their pair.
    vertex_pixels_b = pixel_grid(16, 16, 1).unsqueeze(0)  # vertex n <-> cell n of B
    match_a = torch.zeros(1, 256, 256)
    match_a[0, torch.arange(256), pairs.index_b[0]] = 1.0
    match_a.requires_grad_(True)
    loss = ego_cycle_loss(match_a, vertex_pixels_b, pairs, pixel_scale=16.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-10)
    identity = torch.eye(256).unsqueeze(0).requires_grad_(True)
    bad = ego_cycle_loss(identity, vertex_pixels_b, pairs, 16.0)
    assert bad.item() == pytest.approx((2.0 / 16.0) ** 2, rel=1e-4)
    bad.backward()
    assert torch.isfinite(identity.grad).all()


def test_forward_cycle_ignores_sources_outside_the_mask():
    match = torch.zeros(1, 3, 2)
    match[0, 0, 0] = 1.0  # pixel 0 in the mask -> vertex 0; pixel 1 and 2 outside (zero rows)
    vp = torch.tensor([[[4.0, 4.0], [8.0, 0.0]]])
    q = transfer_pixels(match, vp, torch.tensor([[0, 1]]))
    assert torch.allclose(q[0, 0], torch.tensor([4.0, 4.0]))
    loss = forward_cycle_loss(
        match, vp, torch.tensor([[0, 1]]), torch.tensor([[[4.0, 4.0], [1.0, 1.0]]]), torch.ones(1, 2), 8.0
    )
    assert loss.item() == 0.0


def test_mutual_nearest_pairs_and_cross_instance_loss():
    g = torch.Generator().manual_seed(0)
    feat = F.normalize(torch.randn(1, 16, 4, 4, generator=g), dim=1)
    perm = torch.randperm(16, generator=g)
    feat_b = feat.flatten(2)[:, :, perm].reshape(1, 16, 4, 4)  # B's cell j shows A's cell perm[j]
    mask = torch.ones(1, 4, 4)
    ia, ib, valid = mutual_nearest_pairs(feat, mask, feat_b, mask, k=20)
    assert valid.sum() == 16 and not valid[0, 16:].any()
    assert torch.equal(perm[ib[0, :16]], ia[0, :16])
    small = torch.zeros(1, 4, 4)
    small[0, :2] = 1
    ia2, _, v2 = mutual_nearest_pairs(feat, small, feat_b, mask, k=4)
    assert v2.all() and torch.all(ia2 < 8)
    # Consistent model: A's pixel i -> vertex i; vertex i's expected pixel in B is where perm shows i.
    xy = pixel_grid(4, 4, 4)
    inv = torch.argsort(perm)
    vertex_pixels_b = xy[inv].unsqueeze(0)
    match_a = torch.eye(16).unsqueeze(0).requires_grad_(True)
    loss = cross_instance_cycle_loss(match_a, vertex_pixels_b, xy, ia, ib, valid, pixel_scale=16.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-10)
    wrong = cross_instance_cycle_loss(match_a, xy.unsqueeze(0), xy, ia, ib, valid, 16.0)
    assert wrong.item() > 0.01
    wrong.backward()
    assert torch.isfinite(match_a.grad).all()


def test_ema_teacher_follows_student():
    torch.manual_seed(0)
    student = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    teacher = EMATeacher(student, momentum=0.9)
    before = teacher.module[0].weight.clone()
    with torch.no_grad():
        student[0].weight.add_(1.0)
    student.train()
    student(torch.randn(8, 3))  # changes the running statistics
    teacher.update(student)
    assert torch.allclose(teacher.module[0].weight, 0.9 * before + 0.1 * student[0].weight)
    assert torch.equal(teacher.module[1].running_mean, student[1].running_mean)
    assert not any(p.requires_grad for p in teacher.module.parameters())
    out = teacher(torch.randn(2, 3))
    assert not out.requires_grad
    with pytest.raises(ValueError):
        EMATeacher(student, momentum=1.0)
