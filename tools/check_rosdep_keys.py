"""Resolve every dependency of package.xml the way rosdep would, from a ros/rosdistro checkout.

For each target (ROS distribution, Ubuntu codename) a key resolves when it is a package released in
``<distro>/distribution.yaml`` or a rule of ``rosdep/*.yaml`` with an installer for that codename.
Prints one line per key and target; ``--write`` records the result in test/data/rosdep_keys.yaml, which
test/test_package_meta.py checks package.xml against (and re-checks live when SELFPOSE_ROSDISTRO names a
checkout). Exit status 1 if a key does not resolve somewhere.

Usage: python tools/check_rosdep_keys.py --rosdistro ~/src/rosdistro [--write]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "test" / "data" / "rosdep_keys.yaml"
TARGETS = {"humble": "jammy", "jazzy": "noble", "kilted": "noble"}
DEPEND_TAGS = ("depend", "build_depend", "buildtool_depend", "exec_depend", "test_depend", "build_export_depend")


def package_keys(package_xml: Path = REPO / "package.xml") -> list[str]:
    """Return the sorted dependency names of ``package_xml`` (every depend tag of format 3)."""
    root = ET.parse(package_xml).getroot()
    return sorted({e.text.strip() for tag in DEPEND_TAGS for e in root.iter(tag) if e.text})


def released_packages(distribution: dict[str, Any]) -> set[str]:
    """Return the package names a distribution.yaml releases."""
    names = set()
    for repo_name, repo in distribution.get("repositories", {}).items():
        release = repo.get("release")
        if release and release.get("version"):
            names.update(release.get("packages", [repo_name]))
    return names


def resolve_rule(rule: Any, codename: str) -> str | None:
    """Return 'apt: ...' / 'pip: ...' for a rosdep rule on Ubuntu ``codename``, or None if it has none."""
    if rule is None:
        return None
    if isinstance(rule, list):
        return "apt: " + " ".join(rule) if rule else None
    if isinstance(rule, dict):
        for installer in ("pip", "apt"):
            if installer in rule:
                packages = rule[installer].get("packages", []) if isinstance(rule[installer], dict) else []
                return f"{installer}: " + " ".join(packages) if packages else None
        if codename in rule:
            return resolve_rule(rule[codename], codename)
        if "*" in rule:
            return resolve_rule(rule["*"], codename)
    return None


def resolve_all(rosdistro: Path, keys: list[str]) -> dict[str, dict[str, str | None]]:
    """Return {target: {key: how it installs, or None}} for the TARGETS."""
    rules: dict[str, Any] = {}
    for name in ("base.yaml", "python.yaml"):
        rules.update(yaml.safe_load((rosdistro / "rosdep" / name).read_text()))
    out: dict[str, dict[str, str | None]] = {}
    for distro, codename in TARGETS.items():
        released = released_packages(yaml.safe_load((rosdistro / distro / "distribution.yaml").read_text()))
        resolved: dict[str, str | None] = {}
        for key in keys:
            if key in released:
                resolved[key] = "ros package"
            else:
                resolved[key] = resolve_rule(rules.get(key, {}).get("ubuntu"), codename)
        out[f"{distro}/{codename}"] = resolved
    return out


def main() -> int:
    """Print the resolution table; record it with --write."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rosdistro", type=Path, required=True, help="a checkout of github.com/ros/rosdistro")
    ap.add_argument("--write", action="store_true", help=f"record the result in {RECORD.relative_to(REPO)}")
    args = ap.parse_args()
    keys = package_keys()
    table = resolve_all(args.rosdistro, keys)
    missing = [(t, k) for t, res in table.items() for k, how in res.items() if how is None]
    for target, res in table.items():
        for key, how in res.items():
            print(f"{target:14} {key:28} {how or 'NO ROSDEP DEFINITION'}")
    if args.write:
        commit = (
            subprocess.run(
                ["git", "-C", str(args.rosdistro), "rev-parse", "HEAD"], capture_output=True, text=True
            ).stdout.strip()
            or "unknown"
        )
        header = (
            f"# package.xml dependencies resolved by tools/check_rosdep_keys.py against ros/rosdistro {commit}\n"
            "# (rosdep/base.yaml, rosdep/python.yaml, <distro>/distribution.yaml). Regenerate after editing\n"
            "# package.xml: python tools/check_rosdep_keys.py --rosdistro <checkout> --write\n"
        )
        RECORD.write_text(header + yaml.safe_dump({"rosdistro_commit": commit, "resolved": table}, sort_keys=True))
        print(f"recorded in {RECORD}")
    if missing:
        print(f"{len(missing)} unresolved: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
