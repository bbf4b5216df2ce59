#!/usr/bin/env bash
# The full test suite on a fresh machine: bootstrap (idempotent), then pytest with ROS required.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k dds -x`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
# shellcheck source=env.sh
source "$ROOT/scripts/env.sh"
export SELFPOSE_REQUIRE_ROS=1   # ROS tests must run here, not skip
cd "$ROOT"
exec python -m pytest "$@"
