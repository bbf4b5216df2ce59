#!/usr/bin/env bash
# Train several configs at once on one GPU machine from crop caches (docs/training.md, "Training on a GPU").
# Needs only python3 + torch + numpy + opencv + yaml there: crop caches replace the bags, so no rosbags,
# Open3D or trimesh. Copy the repo (or just selfpose_ros/, config/, scripts/) and the caches named by the
# configs' data.cache over, then, in that copy:
#   bash scripts/device_train.sh OUT_DIR NAME=CONFIG[,SECTION.KEY=VALUE...] ...
# Every run gets run.device=cuda (DEVICE=cpu for a dry run here), run.out_dir=runs/NAME, no progress bar; all runs share the GPU, each in its
# own process; the float16 model of run NAME is copied to OUT_DIR/NAME.pt and its log to OUT_DIR/NAME.log.
set -uo pipefail
if [ "$#" -lt 2 ]; then echo "usage: $0 OUT_DIR NAME=CONFIG[,SECTION.KEY=VALUE...] ..." >&2; exit 2; fi
OUT="$1"; shift
mkdir -p "$OUT"
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$(pwd)" PYTHONUNBUFFERED=1
pids=()
for spec in "$@"; do
  name="${spec%%=*}"; rest="${spec#*=}"
  python3 - "$name" "$rest" > "$OUT/$name.log" 2>&1 <<'PY' &
import os
import sys
from selfpose_ros.train.config import load_config
from selfpose_ros.train.trainer import run_training

name, rest = sys.argv[1], sys.argv[2]
config, *overrides = rest.split(",")
overrides += [f"run.out_dir=runs/{name}", f"run.device={os.environ.get('DEVICE', 'cuda')}", "run.progress=false", f"name={name}"]
cfg = load_config(config, overrides)
command = f"selfpose train --config {config}" + "".join(f" --set {o}" for o in overrides[:-4]) + " (GPU)"
result = run_training(cfg, command)
print(f"{name}: {result.steps} steps, {result.images_per_second:.1f} images/s, last terms {result.last_terms}")
PY
  pids+=("$!:$name")
done
status=0
for entry in "${pids[@]}"; do
  pid="${entry%%:*}"; name="${entry#*:}"
  if wait "$pid"; then cp "runs/$name/model.pt" "$OUT/$name.pt"; else echo "run $name failed" >&2; status=1; fi
done
exit "$status"
