"""Self-supervised validation and early stopping: no labels, only the model's agreement with itself.

The signal is the sum of the cycle and multi-view terms of ``losses/step.compute_losses`` on fixed batches of
held-out recorded frames: the instance cycles 2D -> 3D -> 2D (``match``) and 3D -> 2D (``imatch``), the
cross-time cycle between views of one trajectory (``ego_cycle``) and the multi-view pose consistency
(``pose_consistency``: poses of one static object seen from two camera poses must agree through the camera
motion from TF). Lower is better. ``EarlyStopper`` keeps the best value and counts validations without an
improvement.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import torch

from selfpose_ros.losses.step import StepInputs, compute_losses
from selfpose_ros.losses.weights import LossWeights
from selfpose_ros.train.sampler import VideoBatchSampler

log = logging.getLogger(__name__)

#: The terms whose sum is the validation signal.
VAL_TERMS = ("match", "imatch", "ego_cycle", "pose_consistency")


def validation_weights() -> LossWeights:
    """Loss weights with only the validation terms on (weight 1)."""
    zero = {f.name: 0.0 for f in dataclasses.fields(LossWeights) if isinstance(f.default, float)}
    return dataclasses.replace(LossWeights(**zero), **{t: 1.0 for t in VAL_TERMS})


class SelfSupValidator:
    """Fixed batches of held-out frames; ``score(model)`` is the mean validation signal over them."""

    def __init__(self, val: tuple, collate, cfg, meshes: dict, device: torch.device) -> None:
        ds, groups, frames = val
        d = cfg.data
        videos = min(d.videos, len(groups))
        sampler = VideoBatchSampler(groups, frames, videos=videos, frames=d.frames, strategy=d.strategy,
                                    chain_videos=min(d.chain_videos, videos), stride=d.stride, seed=cfg.run.seed,
                                    chains_optional=True)
        if sampler.chains_dropped:
            # a short held-out recording (the recorder's last split, say); no term of the signal needs a chain
            log.warning("the validation bags hold no chain of %d frames with stride %d (data.frames, data.stride); "
                        "their videos are all drawn by data.strategy", d.frames, d.stride)
        self.batches = [collate([ds[i] for i in idx]) for idx in sampler.batches(0)[:cfg.run.val_batches]]
        if not self.batches:
            raise ValueError("the validation bags give no batch (too few frames per object)")
        self.videos, self.frames = videos, d.frames
        self.cfg, self.meshes, self.device = cfg, meshes, device
        self.weights = validation_weights()

    @torch.no_grad()
    def score(self, model) -> dict[str, float]:
        """{'signal': mean summed terms, and each term's mean}, with ``model`` in eval mode (restored after)."""
        was_training = model.training
        model.eval()
        sums: dict[str, float] = {}
        gen = torch.Generator().manual_seed(self.cfg.run.seed)
        try:
            for batch in self.batches:
                dev = self.device
                depth = batch["depth"].to(dev)
                out = model(batch["rgb"].to(dev), batch["mask"].to(dev)[:, 0], batch["category"].to(dev),
                            batch["K"].to(dev), depth if model.uses_depth else None)
                inp = StepInputs(rgb=batch["rgb"].to(dev), depth=depth, mask=batch["mask"].to(dev),
                                 K=batch["K"].to(dev), T_BA=batch["T_BA"].to(dev), pairs=batch["pairs"].to(dev),
                                 triplets=batch["triplets"].to(dev), group=batch["group"].to(dev),
                                 frame_index=batch["frame_index"].to(dev), videos=self.videos, frames=self.frames)
                _, terms, _ = compute_losses(out, inp, self.weights, self.cfg.labels, self.cfg.loss_options,
                                             self.meshes, gen)
                for t in VAL_TERMS:
                    if t in terms:
                        sums[t] = sums.get(t, 0.0) + float(terms[t])
        finally:
            model.train(was_training)
        out = {t: v / len(self.batches) for t, v in sums.items()}
        out["signal"] = sum(out.values())
        return out


class EarlyStopper:
    """Best validation signal so far and the number of validations since it improved by > ``min_delta``."""

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_step, self.bad = math.inf, -1, 0

    def update(self, value: float, step: int) -> bool:
        """Record one validation; return True when it is the best so far."""
        if value < self.best - self.min_delta:
            self.best, self.best_step, self.bad = value, step, 0
            return True
        self.bad += 1
        return False

    @property
    def should_stop(self) -> bool:
        """True when ``patience`` validations in a row brought no improvement (never with patience 0)."""
        return self.patience > 0 and self.bad >= self.patience

    def state(self) -> dict:
        """JSON-able state for checkpoints."""
        return {"best": self.best, "best_step": self.best_step, "bad": self.bad}

    def load(self, state: dict) -> None:
        """Restore from ``state()``."""
        self.best, self.best_step, self.bad = float(state["best"]), int(state["best_step"]), int(state["bad"])
