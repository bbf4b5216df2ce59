"""The crop cache: `selfpose cache` on a real simulator bag, items equal to the bag dataset's, cached
pseudo-labels (handle flags, fused-box extents), training an RGB-D model from it, the pseudo-label report."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from builders import simulated_bag

from selfpose_ros.cli.main import main as selfpose_main
from selfpose_ros.model.checkpoint import load_checkpoint
from selfpose_ros.train.config import config_from_dict
from selfpose_ros.train.crop_cache import CacheError, CropCacheDataset
from selfpose_ros.train.dataset import TrajectoryDataset
from selfpose_ros.train.pseudo_label_report import pseudo_label_rows
from selfpose_ros.train.trainer import run_training

CATS = ["mug", "bowl"]


def _config(bag: Path, out: Path, cache: str = "") -> dict:
    return {
        "name": "cache_test",
        "data": {"bags": [str(bag)], "cache": cache, "categories": CATS, "crop_size": 64, "min_mask_pixels": 20,
                 "prior_vertices": 40, "videos": 2, "frames": 3, "chain_videos": 1, "stride": 1},
        "pseudo_labels": {"min_quality": 0.0},
        "model": {"image_size": 64, "width": 8, "projector_dims": [16, 16], "num_keypoints": 8, "input": "rgbd",
                  "shape_axes": True, "handle_head": True},
        "optim": {"steps": 2, "warmup_steps": 1},
        "losses": {"shape_size": 0.5, "shape_plausible": 1.0, "handle": 0.1, "cross_instance": 0.0},
        "augment": {"depth_dropout": 0.5},
        "loss_options": {"render_size": 16, "render_samples": 2, "hidden_handle_symmetric": True},
        "run": {"out_dir": str(out), "seed": 1, "threads": 1, "checkpoint_every": 2, "image_every": 0,
                "progress": False},
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    bag = simulated_bag(root / "bag", CATS, frames=8, seed=21, width=240, height=180, extra=("--objects", "3"))
    cfg_path = root / "train.yaml"
    cfg_path.write_text(yaml.safe_dump(_config(bag, root / "run")))
    assert selfpose_main(["cache", "--config", str(cfg_path), "--out", str(root / "cache"), "--ground-truth",
                          "--rgb-codec", "png", "--quiet"]) == 0
    return bag, root


def test_cache_items_equal_the_bag_dataset_and_carry_pseudo_labels(built):
    bag, root = built
    cached = CropCacheDataset(root / "cache")
    direct = TrajectoryDataset([bag], categories=CATS, crop_size=64, min_mask_pixels=20)
    assert len(cached) == len(direct) > 0 and cached.groups == direct.groups
    for i in range(0, len(direct), 5):
        a, b = cached[i], direct[i]
        assert torch.equal(a["rgb"], b["rgb"]) and torch.equal(a["mask"], b["mask"])  # PNG: lossless
        assert torch.allclose(a["depth"], b["depth"], atol=6e-4)  # millimetres
        assert torch.equal(a["T_map_cam"], b["T_map_cam"]) and a["instance_key"] == b["instance_key"]
        assert a["frame_index"] == b["frame_index"] and a["group"] == b["group"] and "gt_R" not in a
    labels = cached.pseudo_labels()
    assert labels["valid"].float().mean() > 0.8
    ok = labels["extents_valid"]
    assert ok.any() and torch.isfinite(labels["extents"][ok]).all()
    assert torch.allclose(labels["scale"][ok], labels["extents"][ok].norm(dim=1), rtol=1e-4)  # box diagonal
    assert set(cached.priors()) == set(CATS) and all(v.shape[1] == 3 for v, _ in cached.priors().values())
    lo, hi = cached.category_table("extent_log_lo"), cached.category_table("extent_log_hi")
    assert all((hi[c] > lo[c]).all() for c in CATS)
    rows = pseudo_label_rows(CropCacheDataset(root / "cache"))
    assert [r[0] for r in rows] == CATS and all(r[2] > 0 for r in rows)


def test_training_from_the_cache_writes_an_rgbd_model_with_the_cache_sizes(built):
    _, root = built
    cfg = config_from_dict(_config(Path("unused"), root / "run_cache", cache=str(root / "cache")))
    result = run_training(cfg, "test")
    assert result.steps == 2 and {"shape_size", "handle", "label_coords"} <= set(result.last_terms)
    ck = load_checkpoint(root / "run_cache" / "model.pt")
    model = ck.build_model()
    assert model.uses_depth and model.handle_head is not None
    scales = CropCacheDataset(root / "cache").category_table("typical_scale")
    assert np.allclose(model.depth_scale.numpy(), [scales[c] for c in ck.categories], rtol=1e-3)


def test_bad_caches_are_named(built, tmp_path):
    _, root = built
    with pytest.raises(CacheError, match="build it with `selfpose cache`"):
        CropCacheDataset(tmp_path)
    (tmp_path / "crops.npz").write_bytes(b"not a zip file")
    with pytest.raises(CacheError, match="corrupt"):
        CropCacheDataset(tmp_path)
    with pytest.raises(CacheError, match="not \\['laptop'\\]"):
        CropCacheDataset(root / "cache", ["laptop"])
    assert selfpose_main(["cache", "--config", str(root / "train.yaml"), "--out", str(root / "cache")]) == 2
