"""The assembled CSE model on tiny crops: shapes, masks, categories and one end-to-end loss step."""

import pytest
import torch
import trimesh

from selfpose_ros.losses.instance_cycles import cycle_2d3d_loss, cycle_3d2d_loss, visibility_weights
from selfpose_ros.losses.keypoints import keypoint_heatmap_loss
from selfpose_ros.losses.reconstruction import depth_loss, mask_loss, sample_vertex_colours, texture_loss
from selfpose_ros.losses.regularisers import deformation_loss, keep_in_front_loss, laplacian_loss, symmetry_loss
from selfpose_ros.losses.trajectory import trajectory_loss, vicreg_loss
from selfpose_ros.model.camera import scale_intrinsics
from selfpose_ros.model.cse_model import CSEConfig, CSEModel
from selfpose_ros.model.keypoint_head import proxy_keypoint_targets
from selfpose_ros.model.soft_renderer import render_soft, transform_vertices

K_CROP = torch.tensor([[80.0, 0, 31.5], [0, 80.0, 31.5], [0, 0, 1]])


def _priors():
    ico = trimesh.creation.icosphere(subdivisions=2)
    box = trimesh.creation.box(extents=(0.6, 0.5, 0.4)).subdivide().subdivide()
    return {"bottle": (ico.vertices * 0.5, ico.faces), "camera": (box.vertices, box.faces)}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = CSEConfig(image_size=64, width=8, num_keypoints=8, projector_dims=(32, 32))
    return CSEModel(cfg, _priors())


def _batch(B=4):
    g = torch.Generator().manual_seed(1)
    crops = torch.rand(B, 3, 64, 64, generator=g)
    masks = torch.zeros(B, 64, 64)
    masks[:, 16:48, 20:44] = 1.0
    return crops, masks


def test_forward_mixed_categories_pads_meshes(model):
    crops, masks = _batch(3)
    out = model(crops, masks, ["bottle", "camera", "bottle"], K_CROP)
    n_ico, n_box = 162, model.shape_heads["camera"].num_vertices
    assert out.vertices.shape == (3, n_ico, 3)
    assert out.vertex_valid.sum(1).tolist() == [n_ico, n_box, n_ico]
    assert torch.all(out.vertices[1, n_box:] == 0)
    assert out.pixel_embeddings.shape == (3, 64, 16, 16)
    assert out.match_2d3d.shape == (3, 256, n_ico)
    assert torch.all(out.match_2d3d[1, :, n_box:] == 0)
    assert torch.equal(out.keypoint_indices[1], model.keypoint_indices("camera"))
    assert out.global_embedding.shape == (3, 32)
    assert torch.allclose(out.rotation @ out.rotation.transpose(1, 2), torch.eye(3).expand(3, 3, 3), atol=1e-5)
    fm = out.feature_mask.reshape(3, -1) > 0.5
    assert torch.all(out.cycle_confidence[~fm] == 0) and torch.all(out.cycle_confidence[fm] > 0)


def test_category_ids_and_errors(model):
    crops, masks = _batch(2)
    out = model(crops, masks, torch.tensor([1, 0]), K_CROP)
    assert out.categories == ["camera", "bottle"]
    with pytest.raises(ValueError, match="unknown categories"):
        model(crops, masks, ["mug", "bottle"], K_CROP)
    with pytest.raises(ValueError, match="ids"):
        model(crops, masks, torch.tensor([0, 5]), K_CROP)
    with pytest.raises(ValueError, match="crops must be"):
        model(torch.rand(2, 3, 96, 96), torch.ones(2, 96, 96), ["bottle"] * 2, K_CROP)


def test_one_training_step_end_to_end_has_finite_gradients(model):
    """Every loss family on one forward pass of one category; gradients reach all trained parts."""
    model.train()
    model.zero_grad()
    crops, masks = _batch(4)
    out = model(crops, masks, ["bottle"] * 4, K_CROP)
    faces = model.shape_heads["bottle"].faces
    K_r = scale_intrinsics(K_CROP, 0.5).expand(4, 3, 3)  # render at 32x32
    v_cam = transform_vertices(out.vertices, out.rotation, out.translation)
    colours = sample_vertex_colours(crops, out.vertex_pixels)
    r = render_soft(v_cam, faces, K_r, (32, 32), colours=colours, sigma=0.5)
    small_mask = torch.nn.functional.avg_pool2d(masks.unsqueeze(1), 2).squeeze(1)
    small_img = torch.nn.functional.avg_pool2d(crops, 2)
    observed_depth = torch.full((4, 32, 32), 0.8)
    vis = visibility_weights(v_cam, r.depth, K_r)
    kp_targets = proxy_keypoint_targets(out.vertex_pixels, out.keypoint_indices, out.pixel_xy, (16, 16), 3.2)
    losses = {
        "mask": mask_loss(r.mask, small_mask, scales=(1, 2)),
        "depth": depth_loss(r.depth, r.mask, observed_depth, small_mask),
        "texture": texture_loss(r.colour, r.mask, small_img, small_mask),
        "match": cycle_2d3d_loss(
            out.points3d, out.pixel_xy, out.feature_mask.flatten(1), out.rotation, out.translation, K_CROP, 64.0
        ),
        "imatch": cycle_3d2d_loss(out.vertex_pixels, v_cam, K_CROP, vis, 64.0),
        "deform": deformation_loss(out.offsets),
        "lap": laplacian_loss(out.vertices, faces),
        "sym": symmetry_loss(out.vertices, "continuous_y"),
        "front": keep_in_front_loss(out.translation),
        "kp": keypoint_heatmap_loss(out.keypoint_logits, kp_targets),
        "traj": trajectory_loss(out.global_embedding[0:1], out.global_embedding[1:2], out.global_embedding[2:3]),
        "vicreg": vicreg_loss(out.global_embedding[:2], out.global_embedding[2:]),
    }
    for name, value in losses.items():
        assert torch.isfinite(value), name
    sum(losses.values()).backward()
    for name in (
        "encoder.stem.0.weight",
        "decoder.head.weight",
        "pointnet.local.0.weight",
        "shape_heads.bottle.mean_vertices",
        "pose_heads.bottle.rot_out.weight",
        "keypoint_head.out.bottle.weight",
        "projector.0.weight",
    ):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    assert model.shape_heads["camera"].mean_vertices.grad is None  # unused category untouched
    assert len(model.mean_mesh_parameters()) == 2


def test_vertex_table_and_learnt_tau_start_as_the_plain_model_and_learn():
    torch.manual_seed(0)
    plain = CSEModel(CSEConfig(image_size=64, width=8, num_keypoints=8, projector_dims=(32, 32)), _priors()).eval()
    cfg = CSEConfig(image_size=64, width=8, num_keypoints=8, projector_dims=(32, 32), vertex_table=True,
                    learn_tau=True, tau=0.05)
    rich = CSEModel(cfg, _priors())
    missing, unexpected = rich.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == sorted(rich.fresh_parameter_names()) and not unexpected
    assert set(missing) == {"vertex_tables.bottle", "vertex_tables.camera", "log_tau"}
    rich.eval()
    plain.config.tau = 0.05
    crops, masks = _batch(2)
    with torch.no_grad():
        a, b = rich(crops, masks, ["bottle", "camera"], K_CROP), plain(crops, masks, ["bottle", "camera"], K_CROP)
    assert torch.allclose(a.match_2d3d, b.match_2d3d, atol=1e-6)  # zero tables and tau = its start value
    rich.train()
    out = rich(crops, masks, ["bottle", "camera"], K_CROP)
    (out.points3d[:, :, 0].sum() + out.match_2d3d.max(-1).values.sum()).backward()
    assert rich.vertex_tables["camera"].grad.abs().sum() > 0 and rich.log_tau.grad.abs() > 0
    n_box = rich.shape_heads["camera"].num_vertices
    assert rich.vertex_tables["camera"].shape == (n_box, 64)
    with torch.no_grad():
        rich.log_tau.fill_(10.0)
    assert float(rich.tau) == 1.0  # kept in TAU_RANGE


def test_each_option_allowed_on_init_is_exactly_what_brings_fresh_parameters():
    """train/config.ADDED_ON_INIT and CSEModel.fresh_parameter_names must grow together."""
    from selfpose_ros.train.config import ADDED_ON_INIT

    base = dict(image_size=64, width=8, num_keypoints=8, projector_dims=(32, 32))
    plain = CSEModel(CSEConfig(**base), _priors())
    assert plain.fresh_parameter_names() == []
    union = set()
    for option in ADDED_ON_INIT:
        model = CSEModel(CSEConfig(**base, **{option: True}), _priors())
        fresh = model.fresh_parameter_names()
        missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)
        assert fresh and sorted(missing) == sorted(fresh) and not unexpected, option
        union |= set(fresh)
    every = CSEModel(CSEConfig(**base, **{option: True for option in ADDED_ON_INIT}), _priors())
    assert set(every.fresh_parameter_names()) == union
