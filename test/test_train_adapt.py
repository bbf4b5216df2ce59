"""Adaptation pieces without DDS: config rules, --init compatibility, split recordings, replay mix, bag preflight."""

import json

import numpy as np
import pytest
from builders import simulated_bag, tiny_checkpoint
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from selfpose_ros.cli.train_cmd import prepare_init
from selfpose_ros.data.bag_reader import LABEL_CATEGORIES_KEY
from selfpose_ros.train.adapt_data import expand_bags, held_out_split, mix_groups, split_bags
from selfpose_ros.train.bag_preflight import bag_categories, preflight_problems
from selfpose_ros.train.config import ConfigError, config_from_dict, resolve_categories
from selfpose_ros.train.validation import VAL_TERMS, EarlyStopper, validation_weights


@pytest.fixture(scope="module")
def sim_bag(tmp_path_factory):
    return simulated_bag(tmp_path_factory.mktemp("sim") / "bag", ["mug"], frames=4, seed=1, width=96, height=72)


def _copy(src, dst, drop=(), custom=None):
    """A copy of the bag ``src`` without the topics in ``drop`` (real MCAP, rosbags' Writer)."""
    with Reader(src) as reader, Writer(dst, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for key, value in (custom or {}).items():
            writer.set_custom_data(key, value)
        conns = {}
        for c in reader.connections:
            if c.topic not in drop:
                conns[c.id] = writer.add_connection(c.topic, c.msgtype, typestore=None, msgdef=c.msgdef.data,
                                                    rihs01=c.digest)
        for c, t, raw in reader.messages(connections=[c for c in reader.connections if c.id in conns]):
            writer.write(conns[c.id], t, raw)
    return dst


def test_config_rules():
    base = {"data": {"bags": ["x"], "crop_size": 64}, "model": {"image_size": 64}}
    cfg = config_from_dict(base)
    assert cfg.optim.ema == 0.0 and cfg.run.val_every == 0 and cfg.data.replay_share == 0.0
    for section, key, value, words in (("data", "replay_share", 0.3, "needs data.replay"),
                                       ("data", "replay_share", 1.0, "[0, 1)"),
                                       ("optim", "ema", 1.0, "optim.ema"),
                                       ("run", "patience", 2, "needs run.val_every")):
        raw = json.loads(json.dumps(base))
        raw.setdefault(section, {})[key] = value
        with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace(")", r"\)")):
            config_from_dict(raw)
    empty = config_from_dict({**base, "data": {**base["data"], "categories": []}})
    resolve_categories(empty, None, ["mug", "teapot", "bowl"])
    assert empty.data.categories == ["mug", "bowl"]  # from the bags' metadata, unknown names left out


def test_init_compatibility_names_every_difference(tmp_path):
    _, _, path = tiny_checkpoint(tmp_path / "m.pt", ["mug", "bowl"])
    raw = {"data": {"bags": ["x"], "crop_size": 64, "categories": []},
           "model": {"image_size": 64, "width": 8, "projector_dims": [16, 16], "num_keypoints": 8}}
    cfg = config_from_dict(raw)
    ck = prepare_init(cfg, path)
    assert ck is not None and cfg.data.categories == ["mug", "bowl"]  # taken from the checkpoint
    raw["data"]["categories"] = ["mug"]
    raw["model"]["width"] = 16
    with pytest.raises(ConfigError) as err:
        prepare_init(config_from_dict(raw), path)
    text = str(err.value)
    assert "categories ['mug', 'bowl'] (checkpoint) != ['mug'] (data.categories)" in text
    assert "model.width 8 (checkpoint) != 16 (config)" in text and "\n" not in text
    # options whose parameters start fresh may be switched on over a checkpoint without them, not the reverse
    raw["data"]["categories"], raw["model"]["width"] = ["mug", "bowl"], 8
    raw["model"].update(vertex_table=True, learn_tau=True)
    assert prepare_init(config_from_dict(raw), path) is not None


def test_split_recordings_read_as_one(tmp_path, sim_bag):
    for k in (1, 0, 10):
        _copy(sim_bag, tmp_path / f"trajectory_20260101_0101_{k}")
    (tmp_path / "trajectory_20260101_0101_x").mkdir()
    parts = split_bags(tmp_path / "trajectory_20260101_0101")
    assert [p.name[-2:] for p in parts] == ["_0", "_1", "10"]
    assert expand_bags([str(tmp_path / "trajectory_20260101_0101")]) == parts
    with pytest.raises(ValueError, match="nor do split bags"):
        expand_bags([str(tmp_path / "nothing")])
    train, val = held_out_split(parts, [], True)  # one recording: its last split is held out
    assert val == parts[-1:] and train == parts[:-1]
    other = [tmp_path / "trajectory_20260101_0200_0", tmp_path / "trajectory_20260101_0200_1"]
    train, val = held_out_split(parts + other, [], True)  # several: every split of the last recording
    assert val == other and train == parts
    with pytest.raises(ValueError, match="at least two"):
        held_out_split(parts[:1], [], True)


def test_replay_share():
    groups = [[k] for k in range(10)]
    frames = [[0] for _ in range(10)]
    is_replay = [k >= 6 for k in range(10)]  # 6 user groups, 4 replay groups
    g, _, counts = mix_groups(groups, frames, is_replay, 0.25, seed=0)
    assert counts == {"user_groups": 6, "replay_groups": 4, "replay_sampled": 2}
    assert g[:6] == groups[:6] and all(x[0] >= 6 for x in g[6:])
    g, _, counts = mix_groups(groups, frames, is_replay, 0.75, seed=0)  # 18 wanted: every one 4x, then 2 more
    assert counts["replay_sampled"] == 18 and len(g) == 24
    g, _, _ = mix_groups(groups, frames, is_replay, 0.0, seed=0)
    assert g == groups[:6]


def test_preflight_one_line_per_problem(tmp_path, sim_bag):
    assert preflight_problems(sim_bag, ["mug"], 4) == []
    few = preflight_problems(sim_bag, ["mug"], 10)
    assert len(few) == 1 and "only 4 colour images" in few[0] and str(sim_bag) in few[0]
    no_tf = _copy(sim_bag, tmp_path / "no_tf", drop=("/tf", "/tf_static"))
    assert [p for p in preflight_problems(no_tf, ["mug"], 2) if "no TF" in p]
    no_depth = _copy(sim_bag, tmp_path / "no_depth", drop=("/camera/depth/image_raw",))
    assert [p for p in preflight_problems(no_depth, ["mug"], 2) if "no depth" in p]
    lines = preflight_problems(sim_bag, ["laptop"], 2)
    assert len(lines) == 1 and "no instance of a trained category ['laptop']" in lines[0]
    # the recorder's label categories in the metadata decide what the panoptic classes mean
    relabelled = _copy(sim_bag, tmp_path / "relabelled", custom={LABEL_CATEGORIES_KEY: json.dumps(
        ["bottle", "bowl", "camera", "can", "laptop", "teapot"])})
    assert bag_categories([relabelled]) == ["bottle", "bowl", "camera", "can", "laptop", "teapot"]
    assert "no instance" in preflight_problems(relabelled, ["mug"], 2)[0]


def test_validation_signal_terms_and_early_stop():
    w = validation_weights()
    assert all(getattr(w, t) == 1.0 for t in VAL_TERMS) and w.mask == 0.0 and w.vicreg == 0.0
    stop = EarlyStopper(patience=2, min_delta=0.01)
    assert stop.update(1.0, 10) and not stop.update(0.995, 20) and not stop.should_stop
    assert not stop.update(1.2, 30) and stop.should_stop and stop.best_step == 10
    assert np.isclose(stop.best, 1.0) and not EarlyStopper(0, 0.0).should_stop


def test_target_domain_is_heavy_under_a_colour_cast():
    from dataclasses import replace

    from selfpose_ros.sim.image_pipeline import draw_look
    from selfpose_ros.sim.realism import REALISM_LEVELS, realism_preset

    target, heavy = realism_preset("target"), realism_preset("heavy")
    assert "target" in REALISM_LEVELS and target.dressing == heavy.dressing
    assert target.image.cast == (1.3, 0.95, 0.6) and heavy.image.cast == (1.0, 1.0, 1.0)
    assert target.segmenter.erode_px[1] > heavy.segmenter.erode_px[1]
    plain = replace(target.image, cast=(1.0, 1.0, 1.0))
    a, b = draw_look(target.image, np.random.default_rng(4)), draw_look(plain, np.random.default_rng(4))
    np.testing.assert_allclose(np.divide(a.wb, b.wb), target.image.cast)  # same draws, the cast on top
    assert a.gain == b.gain and not replace(plain, read_noise=0.0, shot_noise=0.0, exposure_stops=0.0,
                                            white_balance=0.0, exposure_time_s=(0.0, 0.0), jpeg_quality=(0, 0),
                                            vignetting=0.0).enabled


def test_a_short_held_out_bag_validates_without_the_chain_term(tmp_path, sim_bag, caplog):
    """The recorder's last split may hold a few frames only: no chain fits, the signal's terms still score."""
    import torch

    from selfpose_ros.train.data_setup import usable_groups
    from selfpose_ros.train.dataset import TrajectoryDataset
    from selfpose_ros.train.dataset_collate import TrajectoryCollate
    from selfpose_ros.train.validation import SelfSupValidator

    model, _, _ = tiny_checkpoint(tmp_path / "m.pt", ["mug"])
    ds = TrajectoryDataset([sim_bag], categories=["mug"], crop_size=64, min_mask_pixels=30)
    groups, frames = usable_groups(ds, 2)
    assert max(len(f) for f in frames) == 4  # a chain of 3 frames at stride 2 spans 5
    cfg = config_from_dict({"data": {"bags": [str(sim_bag)], "categories": ["mug"], "videos": 2, "frames": 3,
                                     "chain_videos": 1, "stride": 2, "crop_size": 64},
                           "model": {"image_size": 64}, "run": {"val_batches": 1}})
    meshes = {c: (h.num_vertices, h.faces) for c, h in model.shape_heads.items()}
    with caplog.at_level("WARNING"):
        validator = SelfSupValidator((ds, groups, frames), TrajectoryCollate(4), cfg, meshes, torch.device("cpu"))
    assert "no chain of 3 frames with stride 2" in caplog.text
    score = validator.score(model)
    assert set(VAL_TERMS) <= set(score) and np.isfinite(score["signal"]) and score["signal"] > 0
    # with stride 1 the four frames hold a chain: no warning
    caplog.clear()
    cfg.data.stride = 1
    with caplog.at_level("WARNING"):
        chained = SelfSupValidator((ds, groups, frames), TrajectoryCollate(4), cfg, meshes, torch.device("cpu"))
    assert "no chain" not in caplog.text and set(VAL_TERMS) <= set(chained.score(model))
