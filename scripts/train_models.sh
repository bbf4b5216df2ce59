#!/usr/bin/env bash
# Reproduce the shipped checkpoint and its comparison runs (docs/training.md), from nothing.
#   bash scripts/train_models.sh [STAGE ...]      STAGE: data selfsup supervised ablations (default: all four)
#   data        simulated training trajectories at --realism default (seeds 1000..1023; the held-out
#               benchmark scenes use 9000..)
#   selfsup     the self-supervised model         -> models/cse_4cat_selfsup.pt   (shipped)
#   supervised  the supervised upper bound        -> runs/supervised/model.pt     (comparison only)
#   ablations   no ego-motion / no trajectory regularisation / no cycles -> runs/ablation_*/model.pt
# STEPS=N overrides optim.steps of every run. Each `selfpose train` line is the exact command recorded
# inside its checkpoint. About 15 min per run on a 2-core CPU.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=env.sh
source scripts/env.sh
CFG=config/train_selfsup.yaml
stages=("$@")
if [ "${#stages[@]}" -eq 0 ]; then stages=(data selfsup supervised ablations); fi
steps=()
if [ -n "${STEPS:-}" ]; then steps=(--set "optim.steps=$STEPS"); fi
say() { printf '\033[1m[train_models]\033[0m %s\n' "$*"; }
train() { say "$1"; shift; selfpose train --config "$CFG" "${steps[@]}" "$@" --quiet; }

for stage in "${stages[@]}"; do
  case "$stage" in
    data)
      # data/sim/train/REALISM records the level; data simulated at another level (or before there were
      # levels) is made again.
      if [ ! -d data/sim/train/scene_023 ] || [ "$(cat data/sim/train/REALISM 2>/dev/null)" != default ]; then
        say "simulating 24 training trajectories at realism default (data/sim/train)"
        rm -rf data/sim/train
        selfpose sim --out data/sim/train --scenes 24 --frames 60 --categories bottle,bowl,can,mug \
          --objects 2-4 --seed 1000 --width 320 --height 240 --rate 3 --realism default --no-progress
        echo default > data/sim/train/REALISM
      fi ;;
    selfsup)
      train "self-supervised model (no ground truth is read)" --set run.export=models/cse_4cat_selfsup.pt ;;
    supervised)
      train "supervised upper bound (ground-truth poses; comparison only)" --set data.mode=supervised \
        --set run.out_dir=runs/supervised --set name=supervised_4cat ;;
    ablations)
      train "ablation: no ego-motion (single-frame pseudo-labels, no cross-time or pose-consistency terms)" \
        --set pseudo_labels.mode=frame --set losses.ego_cycle=0 --set losses.ego_point=0 \
        --set losses.ego_similarity=0 --set losses.pose_consistency=0 \
        --set run.out_dir=runs/ablation_no_ego --set name=ablation_no_ego
      train "ablation: no trajectory regularisation" --set losses.traj=0 --set losses.vicreg=0 \
        --set run.out_dir=runs/ablation_no_traj --set name=ablation_no_traj
      train "ablation: no cycle losses" --set losses.match=0 --set losses.imatch=0 \
        --set losses.cross_instance=0 --set losses.ego_cycle=0 \
        --set run.out_dir=runs/ablation_no_cycles --set name=ablation_no_cycles ;;
    *) echo "unknown stage $stage (data selfsup supervised ablations)" >&2; exit 2 ;;
  esac
done
say "done"
