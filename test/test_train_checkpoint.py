"""Checkpoint format: round trip, small fp16 weights, and clear failures on damaged or mismatched files."""

from pathlib import Path

import pytest
import torch
from builders import tiny_checkpoint

from selfpose_ros.model.checkpoint import (
    VERSION,
    CheckpointError,
    load_checkpoint,
    read_header,
    save_checkpoint,
    weights_digest,
)
from selfpose_ros.model.cse_model import CSEModel

CATS = ("mug", "bowl")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[CSEModel, dict, Path]:
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt", CATS,
                           train_config={"name": "tiny", "optim": {"lr": 0.001}},
                           command="selfpose train --config x.yaml", step=7, extra={"typical_scale": {"mug": 0.1}})


def test_round_trip_restores_fp16_weights_config_and_metadata(tiny):
    model, priors, path = tiny
    ck = load_checkpoint(path, ["mug"])
    assert ck.categories == list(CATS) and ck.step == 7 and ck.command.startswith("selfpose train")
    assert ck.model_config == model.config and ck.train_config["optim"]["lr"] == 0.001
    assert ck.extra["typical_scale"] == {"mug": 0.1}
    assert all(v.dtype in (torch.float16, torch.int64, torch.long) for v in ck.weights.values())
    rebuilt = ck.build_model()
    for name, value in model.state_dict().items():
        got = rebuilt.state_dict()[name]
        expect = value.half().float() if value.is_floating_point() else value
        assert torch.equal(got, expect), name
    x = torch.rand(2, 3, 64, 64)
    m = torch.zeros(2, 64, 64)
    m[:, 16:48, 16:48] = 1
    K = torch.tensor([[60.0, 0, 32], [0, 60, 32], [0, 0, 1]])
    model.eval()
    a = model(x, m, ["mug", "bowl"], K).points3d
    b = rebuilt(x, m, ["mug", "bowl"], K).points3d
    assert (a - b).abs().max() < 2e-2  # fp16 storage, fp32 compute
    header = read_header(path)
    assert header["version"] == VERSION and "weights" not in header and header["categories"] == list(CATS)


def test_fp16_file_is_about_half_the_fp32_one(tiny, tmp_path):
    model, priors, path = tiny
    full = tmp_path / "full.pt"
    save_checkpoint(full, model, priors, half=False)
    assert path.stat().st_size < 0.6 * full.stat().st_size


def test_truncated_file_fails_clearly(tiny, tmp_path):
    _, _, path = tiny
    data = path.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(bad)


def test_modified_weights_fail_the_hash_check(tiny, tmp_path):
    _, _, path = tiny
    raw = torch.load(path, weights_only=True)
    name = next(k for k, v in raw["weights"].items() if v.is_floating_point() and v.numel() > 10)
    raw["weights"][name] = raw["weights"][name].clone()
    raw["weights"][name].view(-1)[3] += 1.0
    bad = tmp_path / "tampered.pt"
    torch.save(raw, bad)
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        load_checkpoint(bad)


def test_flipped_bytes_are_detected(tiny, tmp_path):
    _, _, path = tiny
    data = bytearray(path.read_bytes())
    for k in range(len(data) // 3, len(data) // 3 + 64):
        data[k] ^= 0xFF
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)


def test_version_categories_and_foreign_files_are_rejected(tiny, tmp_path):
    _, _, path = tiny
    raw = torch.load(path, weights_only=True)
    raw["version"] = VERSION + 1
    newer = tmp_path / "newer.pt"
    torch.save(raw, newer)
    with pytest.raises(CheckpointError, match="format version"):
        load_checkpoint(newer)
    with pytest.raises(CheckpointError, match=r"\['laptop'\] were requested"):
        load_checkpoint(path, ["mug", "laptop"])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a selfpose_ros checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_digest_depends_on_names_values_and_priors():
    w = {"a": torch.arange(4.0), "b": torch.ones(2, 2)}
    base = weights_digest(w)
    assert base == weights_digest({"b": torch.ones(2, 2), "a": torch.arange(4.0)})  # order-free
    assert base != weights_digest({"a": torch.arange(4.0), "c": torch.ones(2, 2)})
    assert base != weights_digest({"a": torch.arange(4.0).half(), "b": torch.ones(2, 2)})
    assert base != weights_digest(w, {"mug": (torch.zeros(3, 3), torch.zeros(1, 3, dtype=torch.long))})
