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
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value (YAML syntax), e.g. --set optim.steps=200; repeatable")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_repair_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Train; return 0 on success, 2 on a configuration error."""
    from selfpose_ros.train.config import ConfigError, load_config
    from selfpose_ros.train.data_setup import expand_bags
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
        try:  # every bag is checked before the run starts: a killed recording gets one line, not a traceback later
            bags = readable_bags("selfpose train", expand_bags(cfg.data.bags), args.repair)
        except ValueError as exc:
            print(f"selfpose train: error: {exc}", file=sys.stderr)
            return 2
        if bags is None:
            return 2
        cfg.data.bags = [str(b) for b in bags]
    command = f"selfpose train --config {shlex.quote(str(args.config))}" + \
        "".join(f" --set {shlex.quote(o)}" for o in args.overrides)
    try:
        result = run_training(cfg, command, args.resume)
    except (ValueError, FileNotFoundError) as exc:
        print(f"selfpose train: error: {exc}", file=sys.stderr)
        return 2
    except reader_errors() as exc:
        print(reader_error_line("selfpose train", exc), file=sys.stderr)
        return 2
    print(f"selfpose train: {cfg.name}: {result.steps} steps, {result.images_per_second:.1f} images/s"
          f"{' (stopped at run.max_minutes)' if result.stopped_early else ''}; data {result.data_stats}")
    if result.model is not None:
        print(f"selfpose train: model {result.model}, resumable checkpoint {result.checkpoint}")
    print("selfpose train: last terms " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.last_terms.items())))
    return 0
