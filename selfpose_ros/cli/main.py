"""The ``selfpose`` command: one entry point, one module per sub-command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Sub-command name -> module under ``selfpose_ros.cli`` exposing ``add_arguments(parser)`` and ``run(args)``.
COMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("sim_cmd", "Write a simulated, labelled RGB-D trajectory as an MCAP rosbag2."),
    "eval": ("eval_cmd", "Score predictions against ground truth with NOCS-style metrics."),
    "demo": ("demo_cmd", "Simulated camera -> pose_estimator over DDS, with a live accuracy table."),
    "train": ("train_cmd", "Train a CSE pose model from trajectory bags (config/train_<name>.yaml)."),
    "cache": ("cache_cmd", "Cut a training config's bags into a crop cache (crops, pseudo-labels, priors)."),
    "probe": ("probe_cmd", "Linear probe of a model's frozen global embedding: viewpoint from few labels."),
    "predict": ("predict_cmd", "Run a pose back-end on every frame of a bag; write JSON-lines predictions."),
    "bag-repair": ("bag_repair_cmd", "Repair rosbag2 MCAP bags whose writer died (in place, or copies with --out)."),
}


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every available sub-command registered."""
    parser = argparse.ArgumentParser(prog="selfpose", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(f"selfpose_ros.cli.{module_name}")
        except ModuleNotFoundError as exc:  # optional dependency missing, or command not built yet
            if exc.name and exc.name.startswith("selfpose_ros.cli."):
                continue
            raise
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen sub-command; return its exit status."""
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
