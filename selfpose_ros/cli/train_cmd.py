"""``selfpose train --config config/train_<name>.yaml``: train a CSE model from trajectory bags.

Under torchrun (``python -m torch.distributed.run --nproc_per_node N -m selfpose_ros.cli.main train ...``)
every process runs this command; rank 0 logs and writes the checkpoints.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from selfpose_ros.cli.bag_guard import add_repair_argument, readable_bags, reader_error_line, reader_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``selfpose train``."""
    parser.add_argument("--config", required=True, type=Path, help="training config YAML (config/train_*.yaml)")
    parser.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                        help="continue from <run.out_dir>/last.pt, or from the given checkpoint")
    parser.add_argument("--init", type=Path, default=None, metavar="CHECKPOINT",
                        help="start from this model's weights and priors (adaptation: config/train_adapt.yaml); "
                             "its categories and model config must fit the config's")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value (YAML syntax), e.g. --set optim.steps=200; repeatable")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_repair_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Train; return 0 on success, 2 on a configuration error."""
    from selfpose_ros.model.checkpoint import CheckpointError
    from selfpose_ros.train.adapt_data import expand_bags
    from selfpose_ros.train.config import ConfigError, load_config
    from selfpose_ros.train.trainer import run_training

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"selfpose train: error: {exc}", file=sys.stderr)
        return 2
    if args.quiet:
        cfg.run.progress = False
    if not cfg.data.cache:  # a crop cache (data.cache) is read instead of the bags: nothing to check there
        for key in ("bags", "replay", "val_bags"):
            paths = getattr(cfg.data, key)
            if not paths:
                continue
            try:  # every bag is checked before the run starts: a killed recording gets one line, not a traceback
                bags = readable_bags("selfpose train", expand_bags(paths, f"data.{key}"), args.repair)
            except ValueError as exc:
                print(f"selfpose train: error: {exc}", file=sys.stderr)
                return 2
            if bags is None:
                return 2
            setattr(cfg.data, key, [str(b) for b in bags])
    try:
        init = prepare_init(cfg, args.init)
    except (ConfigError, CheckpointError, FileNotFoundError) as exc:
        print(f"selfpose train: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    problems = [] if cfg.data.cache else preflight(cfg)
    for line in problems:
        print(f"selfpose train: error: {line}", file=sys.stderr)
    if problems:
        return 2
    command = f"selfpose train --config {shlex.quote(str(args.config))}" + \
        (f" --init {shlex.quote(str(args.init))}" if args.init else "") + \
        "".join(f" --set {shlex.quote(o)}" for o in args.overrides)
    try:
        result = run_training(cfg, command, args.resume, init)
    except (ValueError, FileNotFoundError) as exc:
        print(f"selfpose train: error: {exc}", file=sys.stderr)
        return 2
    except reader_errors() as exc:
        print(reader_error_line("selfpose train", exc), file=sys.stderr)
        return 2
    print(f"selfpose train: {cfg.name}: {result.steps} steps, {result.images_per_second:.1f} images/s"
          f"{_stop_reason(result)}; data {result.data_stats}")
    if result.model is not None:
        print(f"selfpose train: model {result.model}, resumable checkpoint {result.checkpoint}")
    if result.validation:
        v = result.validation
        print(f"selfpose train: validation signal best {v['best']:.4g} at step {v['best_step']} "
              f"({len(v['history'])} validations{', stopped early' if v['early_stop'] else ''}); "
              f"model.pt holds {'the EMA weights' if cfg.optim.ema > 0 else 'the weights'} of that step")
    print("selfpose train: last terms " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.last_terms.items())))
    return 0


def prepare_init(cfg, init: Path | None):
    """Resolve empty data.categories (--init's, else the bags' metadata); load and check --init; return it or None.

    Raise ConfigError naming every difference between the checkpoint and the config.
    """
    import numpy as np

    from selfpose_ros.model.checkpoint import load_checkpoint
    from selfpose_ros.train.adapt_data import expand_bags
    from selfpose_ros.train.config import ConfigError, init_differences, resolve_categories

    ck = load_checkpoint(init) if init is not None else None
    if not cfg.data.categories:
        bag_cats: list[str] = []
        if ck is None and not cfg.data.cache:
            from selfpose_ros.train.bag_preflight import bag_categories

            bag_cats = bag_categories(expand_bags(cfg.data.bags))
        resolve_categories(cfg, ck.categories if ck is not None else None, bag_cats)
    if ck is None:
        return None
    from dataclasses import asdict

    extents = {c: np.ptp(v.float().numpy(), axis=0) for c, (v, _) in ck.priors.items()}
    diffs = init_differences(cfg, ck.categories, asdict(ck.model_config), extents)
    if diffs:
        raise ConfigError(f"--init {init} does not fit the config: " + "; ".join(diffs))
    return ck


def preflight(cfg) -> list[str]:
    """One line per problem of the recorded bags (data.bags, data.val_bags) that would spoil the run.

    The splits of a recording (``<base>_<k>``) that hold fewer frames than one video (data.frames), such as the
    empty first split of a recorder started before the camera, are left out with a note; data.min_keyframes
    counts a split recording's keyframes together."""
    from selfpose_ros.data.bag_reader import BagTopics
    from selfpose_ros.train.adapt_data import expand_bags, recording_of
    from selfpose_ros.train.bag_preflight import frame_count, preflight_problems

    topics = BagTopics(prefix=cfg.data.camera_namespace)

    lines: list[str] = []
    for key in ("bags", "val_bags"):
        bags = expand_bags(getattr(cfg.data, key), f"data.{key}") if getattr(cfg.data, key) else []
        counts = {b: frame_count(b, topics) for b in bags}
        kept = [b for b in bags if counts[b] >= cfg.data.frames] if len(bags) > 1 else bags
        for b in sorted(set(bags) - set(kept)):
            print(f"selfpose train: note: leaving out {b}: {counts[b]} frames, fewer than one video "
                  f"(data.frames {cfg.data.frames})", file=sys.stderr)
        if bags and not kept:
            return [f"data.{key}: no bag holds {cfg.data.frames} frames (data.frames)"]
        setattr(cfg.data, key, [str(b) for b in kept])
        per_recording: dict[str, int] = {}
        for b in kept:
            per_recording[recording_of(b)] = per_recording.get(recording_of(b), 0) + counts[b]
        for rec, n in per_recording.items():
            if n < cfg.data.min_keyframes:
                lines.append(f"recording {rec}: only {n} keyframes, need >= {cfg.data.min_keyframes} "
                             f"(data.min_keyframes): record a longer trajectory or lower the recorder's "
                             f"min_translation/min_rotation_deg")
        for b in kept:
            lines += preflight_problems(b, cfg.data.categories, 0, topics)
    return lines


def _stop_reason(result) -> str:
    """' (stopped ...)' saying why a run ended before optim.steps, or ''."""
    if not result.stopped_early:
        return ""
    if result.validation.get("early_stop"):
        return " (stopped early: no validation improvement in run.patience validations)"
    return " (stopped at run.max_minutes or run.stop_after)"
