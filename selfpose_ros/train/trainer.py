"""The training loop: AdamW + warmup/cosine, mixed precision on GPU, clipping, EMA teacher, DDP, checkpoints.

``run_training(cfg, command, resume)`` is what ``selfpose train`` calls (also under torchrun). Rank 0 logs
(tqdm, TensorBoard in ``<out_dir>/tb``) and writes ``<out_dir>/last.pt`` (float32 + optimizer state, for
``--resume``) and ``<out_dir>/model.pt`` (float16 weights only: the shippable model) every
``run.checkpoint_every`` steps and at the end, so a stopped run leaves a usable model. ``init`` (``selfpose
train --init``) starts from a checkpoint's weights and priors; with ``optim.ema`` the exported model holds the
EMA weights; with ``run.val_every`` model.pt is written at each improvement of the self-supervised validation
signal (train/validation.py) and ``run.patience`` stops the run early.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from selfpose_ros.losses.cross_instance import EMATeacher
from selfpose_ros.losses.step import StepInputs, compute_losses
from selfpose_ros.model.checkpoint import load_checkpoint, save_checkpoint
from selfpose_ros.model.cse_model import CSEModel, CSEOutput
from selfpose_ros.train.augment import colour_jitter
from selfpose_ros.train.config import TrainConfig
from selfpose_ros.train.data_setup import TrainData, batch_labels, build_data
from selfpose_ros.train.distributed import DistInfo, any_rank, barrier, cleanup, setup_distributed
from selfpose_ros.train.tb_logging import TrainLogger
from selfpose_ros.train.validation import EarlyStopper, SelfSupValidator

log = logging.getLogger(__name__)


class TrainModule(nn.Module):
    """What DDP wraps: the CSE forward plus the encoder/projector pass of a second view (VICReg)."""

    def __init__(self, model: CSEModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, crops, masks, categories, K, crops2=None, depth=None):
        """Return (CSEOutput, second-view embedding or None); ``depth`` is the RGB-D models' depth input."""
        out = self.model(crops, masks, categories, K, depth)
        z2 = None
        if crops2 is not None:
            _, g2 = self.model.encode(crops2, masks, categories, K, depth)
            z2 = self.model.projector(g2)
        return out, z2


@dataclass
class TrainResult:
    """Summary of a finished (or stopped) run."""

    steps: int
    images_per_second: float
    last_terms: dict = field(default_factory=dict)
    checkpoint: Path | None = None
    model: Path | None = None
    stopped_early: bool = False
    data_stats: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)  #: best signal and its step, validations, early stop


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to ``min_ratio`` at ``total`` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or cfg.optim.amp == "off":
        return None
    if cfg.optim.amp == "fp16":
        return torch.float16
    if cfg.optim.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _float_output(out: CSEOutput) -> CSEOutput:
    changes = {f.name: getattr(out, f.name).float() for f in dataclasses.fields(out)
               if isinstance(getattr(out, f.name), torch.Tensor) and getattr(out, f.name).is_floating_point()}
    return dataclasses.replace(out, **changes)


def depth_dropout(depth: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """The depth input with each sample's depth withheld (all zeros) with probability ``p`` (the RGB-only path)."""
    if p <= 0:
        return depth
    drop = (torch.rand(depth.shape[0], generator=gen) < p).to(depth.device).view(-1, 1, 1, 1)
    return torch.where(drop, torch.zeros_like(depth), depth)


def label_fields(labels: dict | None) -> dict:
    """StepInputs keyword arguments of a ``batch_labels`` result (nothing when there are no labels)."""
    if labels is None:
        return {}
    out = {"label_valid": labels["valid"], "label_scale": labels["scale"], "label_rot": labels["R"],
           "label_trans": labels["t"]}
    for src, dst in (("extents", "label_extents"), ("extents_valid", "label_extents_valid"),
                     ("handle_visible", "label_handle")):
        if src in labels:
            out[dst] = labels[src]
    return out


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class _Loop:
    """State of one training run (kept small: the step itself is in ``step``)."""

    def __init__(self, cfg: TrainConfig, command: str, info: DistInfo, init=None) -> None:
        self.cfg, self.command, self.info = cfg, command, info
        self.out_dir = Path(cfg.run.out_dir)
        _seed_everything(cfg.run.seed)
        self.data: TrainData = build_data(cfg, info.rank, info.world_size, self.out_dir, info.is_main,
                                          lambda: barrier(info))
        _seed_everything(cfg.run.seed)  # the model's initial weights do not depend on data loading
        if init is not None:  # the checkpoint's priors: its mean-mesh weights are offsets from them
            self.data.priors = {c: (v.numpy(), f.numpy()) for c, (v, f) in init.priors.items()}
        self.model = CSEModel(cfg.model, self.data.priors, self.data.stats.get("typical_scale")).to(info.device)
        self.init = init
        if init is not None:
            state = {k: v.float() if v.is_floating_point() else v for k, v in init.weights.items()}
            missing, unexpected = self.model.load_state_dict(state, strict=False)
            fresh = set(self.model.fresh_parameter_names())
            missing = [k for k in missing if k != "depth_scale" and k not in fresh]
            if missing or unexpected:
                raise ValueError(f"--init {init.path}: weights do not fit the model (missing {missing[:5]}, "
                                 f"unexpected {unexpected[:5]})")
        self.ema = EMATeacher(self.model, cfg.optim.ema) if cfg.optim.ema > 0 else None
        self.stopper = EarlyStopper(cfg.run.patience, cfg.run.min_delta)
        self.meshes = {c: (h.num_vertices, h.faces) for c, h in self.model.shape_heads.items()}
        self.module: nn.Module = TrainModule(self.model)
        if info.distributed:
            ids = [info.device.index] if info.device.type == "cuda" else None
            self.module = nn.parallel.DistributedDataParallel(self.module, device_ids=ids,
                                                              find_unused_parameters=True)
        w = cfg.losses
        self.teacher = EMATeacher(self.model, cfg.loss_options.teacher_momentum) if w.cross_instance > 0 else None
        mesh_ids = {id(p) for p in self.model.mean_mesh_parameters()}
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(foreach=True, params=[
            {"params": [p for p in self.model.parameters() if id(p) not in mesh_ids], "lr": o.lr,
             "weight_decay": o.weight_decay},
            {"params": self.model.mean_mesh_parameters(), "lr": o.lr * o.mean_mesh_lr_scale, "weight_decay": 0.0},
        ])
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, o.warmup_steps, o.steps, o.min_lr_ratio))
        self.amp = _amp_dtype(cfg, info.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        self.step = 0

    # ----------------------------------------------------------------------------------------- checkpoints
    def train_state(self) -> dict:
        """Optimizer, scheduler, scaler and teacher state for --resume."""
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "scaler": self.scaler.state_dict(), "step": self.step, "torch_rng": torch.get_rng_state()}
        if self.teacher is not None:
            state["teacher"] = self.teacher.module.state_dict()
        if self.ema is not None:
            state["ema"] = self.ema.module.state_dict()
        state["early_stop"] = self.stopper.state()
        return state

    @property
    def export_model(self) -> CSEModel:
        """The weights a shipped model holds: the EMA copy with optim.ema, else the trained ones."""
        return self.ema.module if self.ema is not None else self.model

    def save(self, images_per_s: float, write_model: bool = True) -> tuple[Path, Path]:
        """Write last.pt (resumable) and, with ``write_model``, model.pt (float16) and the export copy."""
        extra = {"data": self.data.stats, "images_per_second": images_per_s, "world_size": self.info.world_size,
                 "typical_scale": self.data.stats.get("typical_scale", {}), "ema": self.cfg.optim.ema}
        if self.init is not None:
            extra["init"] = {"path": str(self.init.path), "weights_sha256": self.init.weights_sha256}
        if self.stopper.best_step >= 0:
            extra["validation"] = self.stopper.state()
        common = dict(train_config=self.cfg.to_dict(), command=self.command, step=self.step, extra=extra)
        last, model = self.out_dir / "last.pt", self.out_dir / "model.pt"
        save_checkpoint(last, self.model, self.data.priors, half=False, train_state=self.train_state(), **common)
        if write_model:
            save_checkpoint(model, self.export_model, self.data.priors, half=True, **common)
            if self.cfg.run.export:
                save_checkpoint(self.cfg.run.export, self.export_model, self.data.priors, half=True, **common)
        return last, model

    def resume(self, path: Path) -> None:
        """Restore weights, optimizer, scheduler, scaler, teacher and step from a last.pt."""
        ck = load_checkpoint(path, self.cfg.data.categories)
        if ck.train_state is None:
            raise ValueError(f"{path} has no training state (a float16 export?): resume from <out_dir>/last.pt")
        if ck.categories != list(self.model.categories):
            raise ValueError(f"{path} is for categories {ck.categories}, the config trains {self.model.categories}")
        self.model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck.weights.items()})
        st = ck.train_state
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.scaler.load_state_dict(st["scaler"])
        if self.teacher is not None and "teacher" in st:
            self.teacher.module.load_state_dict(st["teacher"])
        if self.ema is not None and "ema" in st:
            self.ema.module.load_state_dict(st["ema"])
        if "early_stop" in st:
            self.stopper.load(st["early_stop"])
        torch.set_rng_state(st["torch_rng"])
        self.step = int(st["step"])

    # ------------------------------------------------------------------------------------------------ step
    def _extent_bounds(self, categories: list[str], dev: torch.device) -> dict:
        ranges = self.data.extent_ranges
        if not ranges:
            return {}
        lo = torch.tensor(np.stack([ranges[c][0] for c in categories]), dtype=torch.float32, device=dev)
        hi = torch.tensor(np.stack([ranges[c][1] for c in categories]), dtype=torch.float32, device=dev)
        return {"extent_lo": lo, "extent_hi": hi}

    def batches(self):
        """Yield collated batches from the current step on (deterministic in (seed, epoch), resumable)."""
        sampler, ds = self.data.sampler, self.data.dataset
        per_epoch = len(sampler)
        while True:
            epoch, within = divmod(self.step, per_epoch)
            mine = sampler.batches(epoch)[self.info.rank::self.info.world_size]
            if self.cfg.run.num_workers > 0:
                from torch.utils.data import DataLoader

                loader = DataLoader(ds, batch_sampler=mine[within:], collate_fn=self.data.collate,
                                    num_workers=self.cfg.run.num_workers)
                yield from loader
            else:
                for idx in mine[within:]:
                    yield self.data.collate([ds[i] for i in idx])

    def train_step(self, batch: dict) -> tuple[dict, dict, CSEOutput, torch.Tensor]:
        """One optimisation step; return (terms, lr info, output, augmented crops)."""
        cfg, dev = self.cfg, self.info.device
        gen = torch.Generator().manual_seed(cfg.run.seed * 1_000_003 + self.step * 7919 + self.info.rank)
        rgb = batch["rgb"].to(dev)
        mask = batch["mask"].to(dev)
        K = batch["K"].to(dev)
        crops = colour_jitter(rgb, cfg.augment, gen, 1.0)
        depth = batch["depth"].to(dev)
        depth_in = depth_dropout(depth, cfg.augment.depth_dropout, gen) if self.model.uses_depth else None
        w = cfg.losses.scheduled(min(1.0, self.step / max(1, cfg.optim.steps))) if cfg.loss_options.schedule \
            else cfg.losses
        crops2 = colour_jitter(rgb, cfg.augment, gen, cfg.augment.strong_scale) if w.vicreg > 0 else None
        self.module.train()
        amp_ctx = torch.autocast("cuda", dtype=self.amp) if self.amp is not None else contextlib.nullcontext()
        with amp_ctx:
            out, z2 = self.module(crops, mask[:, 0], batch["category"].to(dev), K, crops2, depth_in)
        out = _float_output(out)
        teacher_pix = None
        if self.teacher is not None:
            with torch.no_grad(), amp_ctx:
                feats, _ = self.teacher.module.encode(crops, mask[:, 0], batch["category"].to(dev), K, depth_in)
                teacher_pix = self.teacher.module.decoder(feats)[0].float()
        labels = batch_labels(cfg, self.data, batch, dev)
        inp = StepInputs(
            rgb=rgb, depth=depth, mask=mask, K=K, T_BA=batch["T_BA"].to(dev),
            pairs=batch["pairs"].to(dev), triplets=batch["triplets"].to(dev), group=batch["group"].to(dev),
            frame_index=batch["frame_index"].to(dev), videos=cfg.data.videos, frames=cfg.data.frames,
            z2=None if z2 is None else z2.float(), teacher_pixels=teacher_pix,
            **self._extent_bounds(out.categories, dev), **label_fields(labels))
        total, terms, extras = compute_losses(out, inp, w, cfg.labels, cfg.loss_options, self.meshes, gen)
        if not torch.isfinite(total):
            raise FloatingPointError(f"step {self.step}: non-finite loss; terms {terms}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = float("nan")
        if cfg.optim.grad_clip > 0:
            grad_norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.teacher is not None:
            self.teacher.update(self.model)
        if self.ema is not None:
            self.ema.update(self.model)
        self.step += 1
        terms["total"] = float(total.detach())
        info = {"lr": self.optimizer.param_groups[0]["lr"], "grad_norm": grad_norm}
        if self.model.log_tau is not None:
            info["tau"] = float(self.model.tau.detach())
        self._last_render = extras.get("render")
        return terms, info, out, crops


def run_training(cfg: TrainConfig, command: str = "", resume: str | Path | bool = False, init=None) -> TrainResult:
    """Train according to ``cfg`` (from ``init``, a loaded Checkpoint, if given); return a summary.

    Works as a single process or under torchrun."""
    info = setup_distributed(cfg.run.device)
    try:
        return _run(cfg, command, resume, info, init)
    finally:
        cleanup(info)


def _validate(loop: _Loop, validator: SelfSupValidator | None, logger: TrainLogger, info: DistInfo,
              history: list) -> tuple[bool, bool]:
    """One validation (rank 0 scores); return (improved, stop now) on every rank."""
    improved = False
    if validator is not None:
        scores = validator.score(loop.export_model)
        improved = loop.stopper.update(scores["signal"], loop.step)
        history.append({"step": loop.step, **scores})
        logger.scalars(loop.step, scores, "val/")
        log.info("step %d: validation signal %.4f (best %.4f at step %d)", loop.step, scores["signal"],
                 loop.stopper.best, loop.stopper.best_step)
    return any_rank(improved, info), any_rank(loop.stopper.should_stop, info)


def _run(cfg: TrainConfig, command: str, resume, info: DistInfo, init=None) -> TrainResult:
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    loop = _Loop(cfg, command, info, init)
    validating = cfg.run.val_every > 0 and loop.data.val is not None
    validator = SelfSupValidator(loop.data.val, loop.data.collate, cfg, loop.meshes, info.device) \
        if validating and info.is_main else None
    history: list = []
    if resume:
        path = Path(cfg.run.out_dir) / "last.pt" if resume is True else Path(resume)
        loop.resume(path)
        log.info("resumed from %s at step %d", path, loop.step)
    logger = TrainLogger(loop.out_dir / "tb", info.is_main)
    bar = None
    if info.is_main and cfg.run.progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.optim.steps, initial=loop.step, desc=f"train {cfg.name}", dynamic_ncols=True)
    batch_size = cfg.data.videos * cfg.data.frames * info.world_size
    t_start, timed_steps, t_timed = time.perf_counter(), 0, 0.0
    terms: dict = {}
    stopped = False
    last_ckpt: tuple[Path | None, Path | None] = (None, None)
    images_per_s = float("nan")
    batches = loop.batches()
    first_step = loop.step
    if validating and loop.step == 0:  # the starting weights are a candidate too: adapting must beat them
        if _validate(loop, validator, logger, info, history)[0] and info.is_main:
            last_ckpt = loop.save(images_per_s)
    while loop.step < cfg.optim.steps:
        t0 = time.perf_counter()
        terms, lr_info, out, crops = loop.train_step(next(batches))
        dt = time.perf_counter() - t0
        if loop.step > 2:  # the first steps include one-off setup costs
            timed_steps, t_timed = timed_steps + 1, t_timed + dt
            images_per_s = batch_size * timed_steps / t_timed
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{terms['total']:.4f}", img_s=f"{images_per_s:.1f}")
        if loop.step % cfg.run.log_every == 0:
            logger.scalars(loop.step, terms, "loss/")
            logger.scalars(loop.step, {**lr_info, "images_per_second": images_per_s}, "train/")
        if cfg.run.image_every and loop.step % cfg.run.image_every == 0:
            logger.images(loop.step, crops, out, loop._last_render)
        over_time = cfg.run.max_minutes > 0 and (time.perf_counter() - t_start) / 60.0 > cfg.run.max_minutes
        by_steps = bool(cfg.run.stop_after) and loop.step - first_step >= cfg.run.stop_after  # same on all ranks
        by_time = False
        if loop.step % cfg.run.log_every == 0 or loop.step == cfg.optim.steps:
            by_time = any_rank(over_time, info)  # collective: every rank reaches it at the same steps
        improved = by_val = False
        if validating and (loop.step % cfg.run.val_every == 0 or loop.step == cfg.optim.steps):
            improved, by_val = _validate(loop, validator, logger, info, history)
        stopped = (by_steps or by_time or by_val) and loop.step < cfg.optim.steps
        if loop.step % cfg.run.checkpoint_every == 0 or loop.step == cfg.optim.steps or stopped or improved:
            if info.is_main:
                last_ckpt = loop.save(images_per_s, write_model=improved or not validating)
            barrier(info)
        if stopped:
            why = "no validation improvement in run.patience validations" if by_val else \
                "run.max_minutes or run.stop_after; continue with --resume"
            log.warning("stopping at step %d of %d (%s)", loop.step, cfg.optim.steps, why)
            break
    if bar is not None:
        bar.close()
    logger.close()
    if validating and info.is_main and loop.stopper.best_step < 0:  # no validation ran: export what there is
        last_ckpt = loop.save(images_per_s)
    val = {"best": loop.stopper.best, "best_step": loop.stopper.best_step, "history": history,
           "early_stop": bool(stopped and loop.stopper.should_stop)} if validating else {}
    return TrainResult(loop.step, images_per_s, terms, last_ckpt[0], last_ckpt[1], stopped, loop.data.stats, val)
