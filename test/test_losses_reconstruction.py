"""Reconstruction losses: mask, depth (mean-ratio rescale, clip), texture, and vertex-colour transfer."""

import pytest
import torch

from selfpose_ros.losses.reconstruction import (
    depth_loss,
    mask_loss,
    mean_depth_ratio,
    sample_vertex_colours,
    texture_loss,
    transfer_vertex_colours,
)


def _masks():
    target = torch.zeros(2, 8, 8)
    target[:, 2:6, 3:7] = 1.0
    return target


@pytest.mark.parametrize("kind", ["l1", "l2", "iou"])
def test_mask_loss_zero_at_target_positive_elsewhere_with_finite_grad(kind):
    target = _masks()
    assert mask_loss(target.clone(), target, kind, scales=(1, 2, 4)).item() == pytest.approx(0.0, abs=1e-7)
    pred = torch.full_like(target, 0.3, requires_grad=True)
    loss = mask_loss(pred, target, kind, scales=(1, 2))
    assert loss.item() > 0.05
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_mask_loss_values_and_errors():
    target = _masks()
    pred = torch.zeros_like(target)
    pred[:, 2:6, 3:5] = 1.0  # half of the target
    assert mask_loss(pred, target, "iou").item() == pytest.approx(0.5)
    assert mask_loss(pred, target, "l1").item() == pytest.approx(8 / 64)
    with pytest.raises(ValueError, match="kind"):
        mask_loss(pred, target, "dice")
    with pytest.raises(ValueError, match="scale"):
        mask_loss(pred, target, scales=(3,))


def _depth_case():
    target = _masks()
    observed = torch.where(target > 0, 1.5 + 0.1 * torch.arange(8.0).view(1, 1, 8), torch.zeros(1))
    return target, observed


def test_depth_loss_is_scale_free_and_zero_at_right_answer():
    target, observed = _depth_case()
    rendered = (observed / 1.7).requires_grad_(True)  # canonical units: same shape, another scale
    loss = depth_loss(rendered, target, observed, target)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    ratio = mean_depth_ratio(rendered, observed, target > 0)
    assert torch.allclose(ratio, torch.full((2,), 1.7), atol=1e-5)
    loss.backward()
    assert torch.isfinite(rendered.grad).all()


def test_depth_loss_penalises_wrong_shape_clips_and_ignores_missing_depth():
    target, observed = _depth_case()
    flat = torch.where(target > 0, torch.ones(1), torch.zeros(1)).requires_grad_(True)
    loss = depth_loss(flat, target, observed, target)
    assert loss.item() > 0.01
    loss.backward()
    assert torch.isfinite(flat.grad).all() and flat.grad.abs().sum() > 0
    spiky = observed.clone()
    spiky[:, 3, 4] = 100.0
    assert depth_loss(observed, target, spiky, target, clip=0.1).item() <= 0.1 + 1e-6
    holes = observed.clone()
    holes[:, 2, :] = 0.0
    holes[:, 3, 3] = float("nan")
    assert depth_loss(observed, target, holes, target).item() == pytest.approx(0.0, abs=1e-6)


def test_depth_loss_without_valid_pixels_is_zero_not_nan():
    target, observed = _depth_case()
    rendered = observed.clone().requires_grad_(True)
    loss = depth_loss(rendered, torch.zeros_like(target), observed, target)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(rendered.grad).all()


def test_texture_loss_zero_at_right_answer():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 8, 8, generator=g)
    target = _masks()
    rendered = image.clone().requires_grad_(True)
    assert texture_loss(rendered, target, image, target).item() == pytest.approx(0.0, abs=1e-8)
    wrong = torch.rand(2, 3, 8, 8, generator=g).requires_grad_(True)
    loss = texture_loss(wrong, target, image, target)
    assert loss.item() > 0.01
    loss.backward()
    assert torch.isfinite(wrong.grad).all()
    # outside both masks colours do not matter
    other = image.clone()
    other[:, :, 0, 0] = 5.0
    assert texture_loss(other, target, image, target).item() == pytest.approx(0.0, abs=1e-8)


def test_vertex_colour_transfer_and_sampling():
    image = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    match = torch.zeros(2, 16, 2)
    match[:, 5, 0] = 1.0  # vertex 0 <- pixel (row 1, col 1)
    match[:, 10, 1] = 0.5  # vertex 1 <- mean of pixels 10 and 11
    match[:, 11, 1] = 0.5
    tex = transfer_vertex_colours(match, image)
    assert torch.allclose(tex[:, 0], image[:, :, 1, 1])
    assert torch.allclose(tex[:, 1], 0.5 * (image[:, :, 2, 2] + image[:, :, 2, 3]))
    at = torch.tensor([[[1.0, 1.0], [2.5, 2.0]]]).expand(2, -1, -1)  # (u, v): pixel centre, midpoint
    s = sample_vertex_colours(image, at)
    assert torch.allclose(s[:, 0], image[:, :, 1, 1])
    assert torch.allclose(s[:, 1], 0.5 * (image[:, :, 2, 2] + image[:, :, 2, 3]))
