#!/usr/bin/env bash
# Reproduce the shipped checkpoint and its comparison runs (docs/training.md), from nothing.
#   bash scripts/train_models.sh [STAGE ...]      STAGE: v2data v2 v2tpl v2ablations (default: v2data v2 v2tpl)
#   v2data       simulated training trajectories at realism none and default (seeds 1000..1029; the held-out
#                benchmark scenes use 9000..), their 128-px crop caches (and a 64-px copy), held-out caches
#   v2           model v2: RGB-D, all six categories, 400 steps    -> runs/v2/model_v2.pt (the base of v2g;
#                shipped as models/cse_6cat_rgbd.pt until stop 16; the runs below that start from the
#                shipped model recorded `--init models/cse_6cat_rgbd.pt`, which then held v2)
#   v2ablations  500-step runs: reference, RGB only, 64 px, realism none, no trajectory regularisation,
#                supervised (ground-truth poses)                 -> runs/abl_*_500/model.pt
#   v2longer     the CPU continuations of docs/training.md ("Longer training, three times the data"): 60 more
#                training trajectories (seeds 1030..1089), the 90-trajectory cache, 1,800 steps from the
#                shipped model with and without the label_vertex term -> runs/v2b, runs/v2c (not shipped);
#                1,000 steps from scratch at match temperature 0.05 and 0.1 -> runs/tau_005, runs/tau_01
#   v2vertex     (after v2longer's data) 1,800 steps from the shipped model with learnt per-vertex embeddings
#                and a learnt match temperature, label_vertex 0.2 and 1.0 -> runs/v2d, runs/v2e; the same on
#                v2's 30 trajectories, 1,200 steps -> runs/v2f (none shipped)
#   v2tpl        the shipped model v2g: 60 more trajectories (seeds 1030..1089), template pseudo-labels
#                (pseudo_labels.templates=8) on all 90 -> data/cache/train_default90_tpl8_128, then v2e's
#                recipe on them from v2 -> runs/v2g, exported to models/cse_6cat_rgbd.pt
#   v2fus        (after v2tpl) stop 26's candidate, not shipped: pseudo_labels.mode=fusion (pose_estimator's fused
#                boxes) on the 90 trajectories -> data/cache/train_default90_fus_128, then 900 steps of v2g's
#                recipe from v2g on them, two threads -> runs/v2fus
#   probe        (after v2data) the viewpoint probe of docs/training.md: the v2 recipe (400 steps) with and without the
#                trajectory regularisation -> runs/probe_ref, runs/probe_notraj, then `selfpose probe` on
#                them and on the shipped model
# The first model (4 categories, RGB, 64 px) and its runs: stages data selfsup supervised ablations (its
# data now at --realism default).
# STEPS=N overrides optim.steps of every run. Each `selfpose train` line is the exact command recorded
# inside its checkpoint. One thread per run (OMP_NUM_THREADS=1): on a shared 2-core CPU that is several
# times faster than two threads spinning against each other.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=env.sh
source scripts/env.sh
CFG=config/train_selfsup.yaml
stages=("$@")
if [ "${#stages[@]}" -eq 0 ]; then stages=(v2data v2 v2tpl); fi
export OMP_NUM_THREADS=1
V2=config/train_v2.yaml
SIM6=(--scenes 30 --frames 40 --categories bottle,bowl,camera,can,laptop,mug --objects 2-4 --seed 1000
      --width 320 --height 240 --rate 3 --no-progress)
HELD6=(--scenes 6 --frames 30 --categories bottle,bowl,camera,can,laptop,mug --objects 2-4 --seed 9000
       --width 320 --height 240 --rate 3 --no-progress)
steps=()
if [ -n "${STEPS:-}" ]; then steps=(--set "optim.steps=$STEPS"); fi
# the continuations from the shipped model (v2longer, v2vertex): the 90-trajectory data, the optimiser settings
# and the two model options of v2vertex
data90=(--set data.cache=data/cache/train_default90_128
        --set "data.bags=[data/sim/train_default, data/sim/train_default_b]")
cont=(--set optim.lr=0.0005 --set optim.ema=0.995 --set run.checkpoint_every=200)
V2BASE=runs/v2/model_v2.pt
longer=(--init "$V2BASE" "${data90[@]}" --set optim.steps=1800 "${cont[@]}")
vtx=(--set model.vertex_table=true --set model.learn_tau=true)
sim60() {  # the 60 trajectories added to v2's 30 for the continuations
  if [ ! -d data/sim/train_default_b/scene_059 ]; then
    rm -rf data/sim/train_default_b
    selfpose sim --out data/sim/train_default_b "${SIM6[@]}" --scenes 60 --seed 1030 --realism default
  fi
}
say() { printf '\033[1m[train_models]\033[0m %s\n' "$*"; }
train() { say "$1"; shift; selfpose train --config "$CFG" "${steps[@]}" "$@" --quiet; }
v2train() { say "$1"; shift; selfpose train --config "$V2" "${steps[@]}" "$@" --quiet; }
abl() { name="$1"; shift; v2train "ablation $name (500 steps)" --set optim.steps=500 --set "run.out_dir=runs/abl_${name}_500" \
          --set "name=abl_${name}_500" "$@"; }

for stage in "${stages[@]}"; do
  case "$stage" in
    v2data)
      for level in none default; do
        if [ ! -d "data/sim/train_$level/scene_029" ]; then
          rm -rf "data/sim/train_$level"
          selfpose sim --out "data/sim/train_$level" "${SIM6[@]}" --realism "$level"
        fi
        if [ ! -f "data/cache/train_${level}_128/crops.npz" ]; then
          selfpose cache --config "$V2" --set "data.bags=[data/sim/train_$level]" \
            --out "data/cache/train_${level}_128" --ground-truth --report --quiet
        fi
      done
      if [ ! -f data/cache/train_default_64/crops.npz ]; then
        selfpose cache --resize-from data/cache/train_default_128 --size-px 64 --out data/cache/train_default_64
      fi
      for level in default heavy; do
        [ -d "data/sim/heldout_$level" ] || selfpose sim --out "data/sim/heldout_$level" "${HELD6[@]}" --realism "$level"
      done
      if [ ! -f data/cache/heldout_default_128/crops.npz ]; then
        selfpose cache --config "$V2" --set "data.bags=[data/sim/heldout_default]" \
          --out data/cache/heldout_default_128 --ground-truth --quiet
      fi ;;
    v2)
      v2train "model v2: RGB-D, 128 px, six categories (no ground truth is read)" \
        --set "run.export=$V2BASE" ;;
    v2longer)
      sim60
      if [ ! -f data/cache/train_default90_128/crops.npz ]; then
        selfpose cache --config "$V2" --set "data.bags=[data/sim/train_default, data/sim/train_default_b]" \
          --out data/cache/train_default90_128 --ground-truth --report --quiet
      fi
      v2train "v2b: 1,800 more steps on 90 trajectories" "${longer[@]}" --set run.out_dir=runs/v2b \
        --set name=v2b_6cat_rgbd
      v2train "v2c: the same with the label_vertex term" "${longer[@]}" --set run.out_dir=runs/v2c \
        --set name=v2c_6cat_rgbd --set labels.label_vertex=0.2
      for tau in 0.05 0.1; do  # from scratch: does a lower match temperature sharpen the matches?
        v2train "tau $tau: 1,000 steps from scratch with label_vertex" "${data90[@]}" --set optim.steps=1000 \
          --set labels.label_vertex=0.2 --set "model.tau=$tau" --set "run.out_dir=runs/tau_${tau/./}" \
          --set "name=tau_${tau/./}" --set run.checkpoint_every=250
      done ;;
    v2vertex)
      v2train "v2d: vertex tables, learnt tau, label_vertex 0.2" "${longer[@]}" "${vtx[@]}" \
        --set labels.label_vertex=0.2 --set run.out_dir=runs/v2d --set name=v2d_6cat_rgbd
      v2train "v2e: vertex tables, learnt tau, label_vertex 1.0" "${longer[@]}" "${vtx[@]}" \
        --set labels.label_vertex=1.0 --set run.out_dir=runs/v2e --set name=v2e_6cat_rgbd
      v2train "v2f: v2e's recipe on v2's 30 trajectories, 1,200 steps" --init "$V2BASE" \
        --set optim.steps=1200 "${cont[@]}" "${vtx[@]}" --set labels.label_vertex=1.0 \
        --set run.out_dir=runs/v2f --set name=v2f_6cat_rgbd ;;
    v2tpl)
      sim60
      tpl=(--set pseudo_labels.templates=8 --set "data.bags=[data/sim/train_default, data/sim/train_default_b]")
      if [ ! -f data/cache/train_default90_tpl8_128/crops.npz ]; then
        selfpose cache --config "$V2" "${tpl[@]}" --out data/cache/train_default90_tpl8_128 --ground-truth --report --quiet
      fi
      v2train "v2g: v2e's recipe on template pseudo-labels" "${longer[@]}" "${vtx[@]}" "${tpl[@]}" \
        --set data.cache=data/cache/train_default90_tpl8_128 --set labels.label_vertex=1.0 \
        --set run.out_dir=runs/v2g --set name=v2g_6cat_rgbd --set run.export=models/cse_6cat_rgbd.pt ;;
    v2fus)
      sim60
      fus=(--set pseudo_labels.templates=8 --set pseudo_labels.mode=fusion
           --set "data.bags=[data/sim/train_default, data/sim/train_default_b]")
      if [ ! -f data/cache/train_default90_fus_128/crops.npz ]; then
        selfpose cache --config "$V2" "${fus[@]}" --out data/cache/train_default90_fus_128 --ground-truth --report --quiet
      fi
      v2train "v2fus: v2g's recipe on fusion pseudo-labels, from v2g" --init runs/v2g/model.pt "${vtx[@]}" "${fus[@]}" \
        --set data.cache=data/cache/train_default90_fus_128 --set optim.steps=900 "${cont[@]}" \
        --set run.checkpoint_every=100 --set labels.label_vertex=1.0 --set run.threads=2 \
        --set run.out_dir=runs/v2fus --set name=v2f_6cat_rgbd ;;
    probe)  # the caches of v2data
      v2train "probe reference: the v2 recipe" --set run.out_dir=runs/probe_ref --set name=probe_ref
      v2train "probe ablation: no trajectory regularisation" --set losses.traj=0 --set losses.vicreg=0 \
        --set run.out_dir=runs/probe_notraj --set name=probe_notraj
      selfpose probe --model "v2=$V2BASE" --model ref=runs/probe_ref/model.pt \
        --model notraj=runs/probe_notraj/model.pt --train-cache data/cache/train_default_128 \
        --test-cache data/cache/heldout_default_128 ;;
    v2ablations)
      abl ref
      abl rgb --set model.input=rgb --set augment.depth_dropout=0.0
      abl px64 --set data.cache=data/cache/train_default_64 --set data.crop_size=64 --set model.image_size=64 \
        --set data.min_feature_cells=4
      abl none --set data.cache=data/cache/train_none_128
      abl notraj --set losses.traj=0 --set losses.vicreg=0
      abl supervised --set data.mode=supervised ;;
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
    *) echo "unknown stage $stage (v2data v2 v2longer v2vertex v2tpl probe v2ablations data selfsup supervised ablations)" >&2; exit 2 ;;
  esac
done
say "done"
