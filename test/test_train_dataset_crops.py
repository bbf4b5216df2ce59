"""Square instance crops: exact crop intrinsics, no distortion, zero padding outside the image."""

import numpy as np
import pytest

from selfpose_ros.data.crops import crop_instance, crop_intrinsics, mask_box, square_window

W, H = 200, 150
K = np.array([[180.0, 0.0, 97.3], [0.0, 176.0, 71.8], [0.0, 0.0, 1.0]])  # fx != fy on purpose


def _blob_image(u: float, v: float, sigma: float = 2.5) -> np.ndarray:
    uu, vv = np.meshgrid(np.arange(W), np.arange(H))
    g = np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / (2 * sigma**2))
    return np.repeat((g * 250).astype(np.float32)[..., None], 3, axis=2)


def _centroid(img: np.ndarray) -> np.ndarray:
    w = img.astype(np.float64)
    vv, uu = np.mgrid[: w.shape[0], : w.shape[1]]
    return np.array([(w * uu).sum() / w.sum(), (w * vv).sum() / w.sum()])


@pytest.mark.parametrize("size", [48, 256])  # downsampling and upsampling
def test_point_lands_where_crop_intrinsics_project_it(size):
    X = np.array([0.031, -0.017, 0.62])
    u, v = (K @ X)[:2] / X[2]
    rgb = _blob_image(u, v)
    mask = np.zeros((H, W), dtype=bool)
    mask[55:101, 70:131] = True  # 61 x 46 box around the blob, not square, not centred on it
    crop = crop_instance(rgb, np.ones((H, W), np.float32), mask, K, size, padding=0.2)
    expected = (crop.K @ X)[:2] / X[2]
    np.testing.assert_allclose(_centroid(crop.rgb[..., 0]), expected, atol=0.05)
    # and the same holds when the point's full-image pixel is mapped by the crop affine
    A = crop.window.affine(size)
    np.testing.assert_allclose((A @ [u, v, 1.0])[:2], expected, atol=1e-9)


def test_square_window_keeps_aspect_ratio():
    mask = np.zeros((H, W), dtype=bool)
    mask[40:70, 50:110] = True  # 60 wide, 30 high
    crop = crop_instance(np.zeros((H, W, 3), np.uint8), np.ones((H, W), np.float32), mask, K, 120, padding=0.5)
    assert crop.window.side == pytest.approx(60 * 1.5)
    x0, y0, x1, y1 = mask_box(crop.mask)
    assert (x1 - x0, y1 - y0) == (80, 40)  # 60 x 30 scaled by 120 / 90 on both axes
    assert (x0 + x1) / 2 == pytest.approx(60, abs=0.5) and (y0 + y1) / 2 == pytest.approx(60, abs=0.5)
    assert crop.K[0, 0] / crop.K[1, 1] == pytest.approx(K[0, 0] / K[1, 1])


def test_outside_the_image_is_zero_and_depth_is_copied_exactly():
    rng = np.random.default_rng(1)
    rgb = np.full((H, W, 3), 200, np.uint8)
    depth = rng.uniform(0.4, 2.0, size=(H, W)).astype(np.float32)
    depth[::7, ::5] = np.nan  # no reading
    mask = np.zeros((H, W), dtype=bool)
    mask[0:30, 0:40] = True  # touches the top-left corner: the window reaches outside the image
    size = 64
    crop = crop_instance(rgb, depth, mask, K, size, padding=0.3)
    # crop pixel centres mapped back to the image
    A_inv = np.linalg.inv(crop.window.affine(size))
    vv, uu = np.mgrid[:size, :size]
    src = np.einsum("ij,hwj->hwi", A_inv, np.stack([uu, vv, np.ones_like(uu)], -1).astype(float))
    inside = (src[..., 0] >= 0.5) & (src[..., 1] >= 0.5) & (src[..., 0] <= W - 1.5) & (src[..., 1] <= H - 1.5)
    outside = (src[..., 0] < -1.0) | (src[..., 1] < -1.0)  # bilinear blends with the zero border within 1 px
    assert outside.any() and inside.any()
    assert (crop.rgb[outside] == 0).all() and (crop.depth[outside] == 0).all() and not crop.mask[outside].any()
    assert (crop.rgb[inside] == 200).all()
    # nearest-neighbour depth: every valid crop value is the source value at the rounded source pixel
    iu, iv = np.rint(src[..., 0]).astype(int), np.rint(src[..., 1]).astype(int)
    src_depth = np.nan_to_num(depth[iv[inside], iu[inside]], nan=0.0)
    np.testing.assert_array_equal(crop.depth[inside], src_depth)
    assert (crop.depth[inside] == 0).any()  # holes stay holes, as 0
    assert crop.depth.dtype == np.float32 and crop.mask.dtype == bool


def test_batched_intrinsics_and_bad_input():
    A = np.stack([square_window((10, 20, 50, 40), 0.1).affine(s) for s in (64, 128)])
    Kc = crop_intrinsics(K, A)
    assert Kc.shape == (2, 3, 3)
    np.testing.assert_allclose(Kc[1, :2, :2], 2 * Kc[0, :2, :2])
    with pytest.raises(ValueError, match="empty"):
        mask_box(np.zeros((5, 5), dtype=bool))
    with pytest.raises(ValueError, match="padding"):
        square_window((0, 0, 4, 4), -0.5)
    with pytest.raises(ValueError, match="sizes differ"):
        crop_instance(np.zeros((4, 4, 3), np.uint8), np.zeros((5, 5), np.float32), np.ones((5, 5), bool), K, 8)
