"""Training config: the shipped YAML files validate; bad keys, types and combinations fail with the key named."""

from pathlib import Path

import pytest
import yaml

from selfpose_ros.train.config import ConfigError, config_from_dict, load_config

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "config").glob("train_*.yaml"))


def _minimal() -> dict:
    return {"data": {"bags": ["some/bag"], "categories": ["mug"], "crop_size": 64},
            "model": {"image_size": 64, "width": 8, "projector_dims": [16, 16]}}


def test_every_shipped_training_config_validates():
    assert SHIPPED, "no config/train_*.yaml"
    for path in SHIPPED:
        cfg = load_config(path)
        assert cfg.data.crop_size == cfg.model.image_size
        assert cfg.data.mode in ("self_supervised", "supervised")


def test_defaults_and_round_trip_through_yaml(tmp_path):
    cfg = config_from_dict(_minimal())
    assert cfg.model.projector_dims == (16, 16) and cfg.losses.mask == 0.15 and cfg.labels.label_coords == 1.0
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    assert load_config(path) == cfg


@pytest.mark.parametrize("patch, message", [
    ({"data": {"bogus": 1}}, r"unknown key\(s\) in 'data': \['bogus'\]"),
    ({"optimiser": {}}, r"unknown top-level key\(s\) \['optimiser'\]"),
    ({"optim": {"lr": "fast"}}, r"optim.lr must be a number"),
    ({"optim": {"steps": 2.5}}, r"optim.steps must be an integer"),
    ({"pseudo_labels": {"enabled": "yes"}}, r"pseudo_labels.enabled must be true or false"),
    ({"losses": {"mask": -1.0}}, r"loss weight mask must be >= 0"),
    ({"data": {"crop_size": 96}}, r"data.crop_size \(96\) must equal model.image_size \(64\)"),
    ({"data": {"categories": ["mug", "teapot"]}}, r"data.categories \['teapot'\] are unknown"),
    ({"data": {"mode": "semi"}}, r"data.mode must be self_supervised or supervised"),
    ({"optim": {"amp": "fp8"}}, r"optim.amp must be auto, off, bf16 or fp16"),
    ({"model": {"image_size": 60}}, r"image_size must be a positive multiple of 32"),
    ({"run": {"device": "tpu"}}, r"run.device must be auto, cpu or cuda"),
    ({"data": {"bags": []}}, r"data.bags must list at least one bag"),
])
def test_bad_configs_name_the_problem(patch, message):
    raw = _minimal()
    for section, values in patch.items():
        raw.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


def test_overrides_apply_yaml_values_and_reject_malformed_ones(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_minimal()))
    cfg = load_config(path, ["optim.steps=12", "optim.warmup_steps=2", "data.categories=[mug, bowl]",
                            "run.progress=false", "name=x"])
    assert cfg.optim.steps == 12 and cfg.data.categories == ["mug", "bowl"] and cfg.run.progress is False
    assert cfg.name == "x"
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(path, ["optim.steps"])
    with pytest.raises(ConfigError, match="c.yaml: unknown key"):
        load_config(path, ["optim.stepz=3"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
