#!/usr/bin/env bash
# The demo on a fresh machine: bootstrap (idempotent), then `selfpose demo`. Arguments go to the demo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh"
# shellcheck source=env.sh
source "$ROOT/scripts/env.sh"
cd "$ROOT"
exec selfpose demo "$@"
