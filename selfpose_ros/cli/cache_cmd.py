"""``selfpose cache --config config/train_<name>.yaml --out DIR``: crops, pseudo-labels and priors of the config's
bags in one crop cache (selfpose_ros/train/crop_cache.py), which ``data.cache: DIR`` trains from."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``selfpose cache``."""
    parser.add_argument("--config", type=Path, help="training config YAML (its data, pseudo_labels)")
    parser.add_argument("--resize-from", type=Path, metavar="CACHE",
                        help="instead of reading bags, copy this cache with --size-px crops (same windows)")
    parser.add_argument("--size-px", type=int, default=64, help="crop size of --resize-from (default 64)")
    parser.add_argument("--out", required=True, type=Path, help="new directory for crops.npz (+ ground_truth.npz)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value (YAML syntax); repeatable")
    parser.add_argument("--ground-truth", action="store_true",
                        help="also store the bags' ground truth (supervised bound, probe, pseudo-label report)")
    parser.add_argument("--rgb-codec", choices=("jpeg", "png"), default="jpeg")
    parser.add_argument("--report", action="store_true", help="print the pseudo-label quality table (needs "
                                                              "--ground-truth)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Build the cache; return 0 on success, 2 on a configuration or data error."""
    from selfpose_ros.train.config import ConfigError, load_config
    from selfpose_ros.train.crop_cache_build import build_crop_cache

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.resize_from is not None:
        from selfpose_ros.train.crop_cache import CacheError
        from selfpose_ros.train.crop_cache_build import resize_crop_cache

        try:
            print(f"selfpose cache: {args.out}: {resize_crop_cache(args.resize_from, args.out, args.size_px)}")
        except (CacheError, ValueError) as exc:
            print(f"selfpose cache: error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.config is None:
        print("selfpose cache: error: --config is required (or --resize-from)", file=sys.stderr)
        return 2
    if args.report and not args.ground_truth:
        print("selfpose cache: error: --report needs --ground-truth", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config, args.overrides)
        if not cfg.data.bags:
            raise ConfigError("data.bags must list the bags to cache")
        stats = build_crop_cache(cfg, args.out, args.ground_truth, args.rgb_codec, progress=not args.quiet)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"selfpose cache: error: {exc}", file=sys.stderr)
        return 2
    print(f"selfpose cache: {args.out}: {stats}")
    if args.report:
        from selfpose_ros.train.crop_cache import CropCacheDataset
        from selfpose_ros.train.pseudo_label_report import format_rows, pseudo_label_rows

        print(format_rows(pseudo_label_rows(CropCacheDataset(args.out), cfg.pseudo_labels.min_quality)))
    return 0
