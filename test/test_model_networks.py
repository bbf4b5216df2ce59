"""Encoder, decoder, pose head, shape head and PointNet of the CSE model (tiny sizes, CPU)."""

import pytest
import torch
import trimesh

from selfpose_ros.model.camera import pixel_grid, project_points, scale_intrinsics
from selfpose_ros.model.encoder import ResNetEncoder
from selfpose_ros.model.pixel_decoder import PixelDecoder
from selfpose_ros.model.pointnet import PointNetEmbedder
from selfpose_ros.model.pose_head import PoseHead, decode_translation, encode_translation
from selfpose_ros.model.shape import ShapeHead


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_encoder_strides_channels_and_global_mean():
    enc = ResNetEncoder(width=8).eval()
    x = torch.rand(2, 3, 64, 64)
    feats, g = enc(x)
    assert [tuple(f.shape) for f in feats] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2)]
    assert torch.allclose(g, feats[-1].mean(dim=(2, 3)))
    assert enc.global_dim == 64
    assert sum(isinstance(m, torch.nn.Conv2d) for m in ResNetEncoder(width=64).modules()) == 20  # ResNet-18


def test_encoder_rejects_bad_input():
    enc = ResNetEncoder(width=8)
    with pytest.raises(ValueError, match="divisible by 32"):
        enc(torch.rand(1, 3, 60, 64))
    with pytest.raises(ValueError, match="B,3,H,W"):
        enc(torch.rand(1, 1, 64, 64))
    with pytest.raises(ValueError, match="norm"):
        ResNetEncoder(width=8, norm="layer")


def test_decoder_gives_unit_embeddings_at_stride_4():
    enc = ResNetEncoder(width=8, norm="group")
    dec = PixelDecoder(enc.channels, embed_dim=16, norm="group")
    emb, hidden = dec(enc(torch.rand(2, 3, 64, 64))[0])
    assert emb.shape == (2, 16, 16, 16) and hidden.shape == (2, 8, 16, 16)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2, 16, 16), atol=1e-5)


def test_pose_head_rotation_is_proper_and_starts_near_identity():
    head = PoseHead(32)
    K = torch.tensor([[50.0, 0, 31.5], [0, 50.0, 31.5], [0, 0, 1]])
    R, t, d6 = head(torch.randn(4, 32), K, (64, 64))
    eye = torch.eye(3).expand(4, 3, 3)
    assert torch.allclose(R @ R.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.det(R), torch.ones(4), atol=1e-5)
    assert (R - eye).abs().max() < 0.2
    assert d6.shape == (4, 6) and t.shape == (4, 3)


def test_translation_parameterisation_uses_crop_intrinsics():
    # Off-centre principal point: raw (0, 0, 0) must still put the object at the crop centre.
    K = torch.tensor([[[60.0, 0, 10.0], [0, 60.0, 50.0], [0, 0, 1]]])
    t = decode_translation(torch.zeros(1, 3), K, (64, 64), z0=1.5)
    uv = project_points(t.unsqueeze(1), K)[0, 0]
    assert torch.allclose(uv, torch.tensor([31.5, 31.5]), atol=1e-4)
    assert torch.isclose(t[0, 2], torch.tensor(60.0 / 64 * 1.5))
    raw = torch.tensor([[0.3, -0.2, 0.7]])
    back = encode_translation(decode_translation(raw, K, (64, 64), 1.5), K, (64, 64), 1.5)
    assert torch.allclose(back, raw, atol=1e-4)
    uv = project_points(decode_translation(raw, K, (64, 64), 1.5).unsqueeze(1), K)[0, 0]
    assert torch.allclose(uv, torch.tensor([31.5 + 0.3 * 32, 31.5 - 0.2 * 32]), atol=1e-3)


def test_scale_intrinsics_maps_pixel_centres():
    K = torch.tensor([[100.0, 0, 63.5], [0, 100.0, 63.5], [0, 0, 1]])
    Ks = scale_intrinsics(K, 0.25)
    p = torch.tensor([[[0.2, -0.1, 2.0]]])
    u_full = project_points(p, K.unsqueeze(0))
    u_small = project_points(p, Ks.unsqueeze(0))
    assert torch.allclose(u_small, (u_full + 0.5) * 0.25 - 0.5, atol=1e-5)
    with pytest.raises(ValueError):
        scale_intrinsics(K, 0.0)


def test_pixel_grid_cell_centres():
    xy = pixel_grid(2, 3, stride=4)
    assert torch.equal(xy[0], torch.tensor([1.5, 1.5])) and torch.equal(xy[5], torch.tensor([9.5, 5.5]))


def _ico():
    m = trimesh.creation.icosphere(subdivisions=2)
    return torch.tensor(m.vertices, dtype=torch.float32) * 0.5, torch.tensor(m.faces)


def test_shape_head_offsets_have_zero_mean_and_mean_mesh_learns():
    v, f = _ico()
    head = ShapeHead(v, f, global_dim=16)
    verts, offs, log_scale = head(torch.randn(3, 16))
    assert verts.shape == (3, v.shape[0], 3) and torch.equal(log_scale, torch.zeros(3, 3))
    assert torch.allclose(offs.mean(dim=1), torch.zeros(3, 3), atol=1e-6)
    assert torch.allclose(verts, v + offs, atol=1e-6)
    assert isinstance(head.mean_vertices, torch.nn.Parameter)
    verts.sum().backward()
    assert head.mean_vertices.grad is not None and head.code.weight.grad is not None
    with pytest.raises(ValueError, match="faces index"):
        ShapeHead(v, f + 1000, 16)


def test_pointnet_unit_embeddings_ignore_padding_and_vertex_grad():
    net = PointNetEmbedder(embed_dim=16, hidden=8)
    v, _ = _ico()
    v = v.unsqueeze(0).requires_grad_(True)
    emb = net(v)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(1, v.shape[1]), atol=1e-5)
    padded = torch.cat((v.detach(), torch.full((1, 20, 3), 9.0)), dim=1)
    valid = torch.zeros(1, padded.shape[1], dtype=torch.bool)
    valid[:, : v.shape[1]] = True
    emb_pad = net(padded, valid)
    assert torch.allclose(emb_pad[:, : v.shape[1]], emb, atol=1e-6)
    emb.sum().backward()
    assert v.grad is None  # the mesh encoder sees detached vertices
