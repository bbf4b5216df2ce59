"""Category priors: shipped files load, have the right size, and match what make_priors regenerates."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.shapes import priors
from selfpose_ros.shapes.make_priors import VERTEX_RANGE, make_prior, write_prior


@pytest.mark.parametrize("category", CATEGORIES)
def test_prior_loads_and_is_canonical(category: str) -> None:
    v, f = priors.load_prior(category)
    assert v.dtype == np.float32 and f.dtype == np.int64 and v.shape[1] == 3 and f.shape[1] == 3
    assert VERTEX_RANGE[0] <= len(v) <= VERTEX_RANGE[1]
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight and mesh.volume > 0
    lo, hi = v.min(axis=0), v.max(axis=0)
    assert abs(np.linalg.norm(hi - lo) - 1.0) < 0.01
    np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-5)
    assert priors.prior_path(category).stat().st_size < 64_000


@pytest.mark.parametrize("category", CATEGORIES)
def test_shipped_prior_matches_regeneration(category: str, tmp_path) -> None:
    shipped_v, shipped_f = priors.load_prior(category)
    path = write_prior(make_prior(category), tmp_path)
    stale = "stale prior: run python -m selfpose_ros.shapes.make_priors"
    assert path.read_bytes() == priors.prior_path(category).read_bytes(), stale
    assert len(shipped_v) == len(trimesh.load(path, process=False).vertices)
    assert len(shipped_f) > 0


def test_prior_search_order_and_errors(tmp_path, monkeypatch) -> None:
    share = tmp_path / "install"
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(share))
    dirs = priors.prior_dirs()
    assert dirs[1] == share / "share" / "selfpose_ros" / "models" / "priors"
    with pytest.raises(ValueError, match="unknown category"):
        priors.load_prior("teapot")
    monkeypatch.setattr(priors, "PRIOR_FILE", "{category}_missing.ply")
    with pytest.raises(FileNotFoundError, match="make_priors"):
        priors.load_prior("mug")
    # The ament share directory is used when the source tree has no file.
    dirs[1].mkdir(parents=True)
    (dirs[1] / "mug_missing.ply").write_bytes((dirs[0] / "mug.ply").read_bytes())
    v, _ = priors.load_prior("mug")
    assert len(v) >= VERTEX_RANGE[0]
