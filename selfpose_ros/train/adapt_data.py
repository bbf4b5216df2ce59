"""Adaptation data: bags found (``expand_bags``: bag dirs, their parents, split recordings by their base name),
replay groups mixed at a share, held-out bags.

A recording of the trajectory_recorder is ``<output_dir>/<prefix>_<date>_<k>/`` for k = 0, 1, ...;
``split_bags`` turns the base name (without ``_<k>``) into those bags, so a recording split by size or
duration reads as one dataset. ``mix_groups`` weights the (trajectory, instance) groups of the user's bags
against those of the replay (simulated) bags so that about ``share`` of the sampled videos are replay ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_SPLIT = re.compile(r"^(?P<base>.+)_(?P<k>\d+)$")


def split_bags(path: Path) -> list[Path]:
    """The bags ``<path>_0, <path>_1, ...`` (a split recording named by its base), in index order; [] if none."""
    parent = path.parent
    if not parent.is_dir():
        return []
    found = []
    for d in parent.iterdir():
        m = _SPLIT.match(d.name)
        if m and m["base"] == path.name and (d / "metadata.yaml").is_file():
            found.append((int(m["k"]), d))
    return [d for _, d in sorted(found)]


def expand_bags(paths: list[str], key: str = "data.bags") -> list[Path]:
    """Bag directories from a list of bags, parents of bags, or split recordings named by their base
    (``trajectory_<date>`` for ``trajectory_<date>_0, _1, ...``); a bag directory holds metadata.yaml."""
    out: list[Path] = []
    for p in (Path(x).expanduser() for x in paths):
        if not p.exists():
            parts = split_bags(p)
            if not parts:
                hint = (": make the simulated replay scenes with `bash scripts/train_models.sh v2data`, or set "
                        "data.replay=[] data.replay_share=0") if key == "data.replay" else ""
                raise ValueError(f"{key}: {p} does not exist (nor do split bags {p.name}_0, {p.name}_1, ...){hint}")
            out.extend(parts)
            continue
        if (p / "metadata.yaml").is_file() or p.suffix in (".mcap", ".db3"):
            out.append(p)
            continue
        subs = sorted(d for d in p.iterdir() if (d / "metadata.yaml").is_file())
        if not subs:
            raise ValueError(f"{key}: {p} is neither a rosbag2 directory nor a directory of them")
        out.extend(subs)
    return out


def recording_of(bag: Path) -> str:
    """The recording a bag belongs to: ``<dir>/<base>`` for a split ``<base>_<k>``, else the bag itself."""
    m = _SPLIT.match(Path(bag).name)
    return str(Path(bag).parent / m["base"]) if m else str(bag)


def mix_groups(groups: list[list[int]], frames: list[list[int]], is_replay: Sequence[bool], share: float,
               seed: int) -> tuple[list[list[int]], list[list[int]], dict]:
    """Groups with the replay ones subsampled or repeated so that they are about ``share`` of all groups.

    Return (groups, frames, counts); with ``share`` 0 the replay groups are dropped.
    """
    user = [k for k, r in enumerate(is_replay) if not r]
    replay = [k for k, r in enumerate(is_replay) if r]
    if not user:
        raise ValueError("no usable crops in data.bags (every usable group comes from data.replay)")
    want = int(round(share * len(user) / (1.0 - share))) if replay else 0
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    while want > 0 and len(chosen) + len(replay) <= want:
        chosen += replay
    if want > len(chosen):
        chosen += sorted(rng.choice(replay, size=want - len(chosen), replace=False).tolist())
    keep = user + chosen
    counts = {"user_groups": len(user), "replay_groups": len(replay), "replay_sampled": len(chosen)}
    return [groups[k] for k in keep], [frames[k] for k in keep], counts


def held_out_split(bags: list[Path], val_bags: list[Path], validating: bool) -> tuple[list[Path], list[Path]]:
    """(training bags, validation bags): the given validation bags, else, when validating, every split of the
    last recording in ``bags`` (or the last split when they all belong to one recording)."""
    if val_bags or not validating:
        return bags, val_bags
    if len(bags) < 2:
        raise ValueError("run.val_every > 0 holds out the last recording of data.bags for validation: give at "
                         "least two bags (record twice), or name held-out bags in data.val_bags")
    last = recording_of(bags[-1])
    held = [b for b in bags if recording_of(b) == last]
    if len(held) == len(bags):
        held = bags[-1:]
    return [b for b in bags if b not in held], held
