"""Training configuration: one YAML file, validated here (and only here) with errors naming the key.

Sections (see config/train_*.yaml and docs/training.md): ``data``, ``pseudo_labels``, ``model`` (the
:class:`CSEConfig` fields), ``optim``, ``losses`` (the :class:`LossWeights` fields plus the label terms),
``loss_options``, ``augment`` and ``run``. Unknown keys are errors; missing keys take the defaults below.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.losses.options import LabelWeights, LossOptions
from selfpose_ros.losses.weights import LossWeights
from selfpose_ros.model.cse_model import CSEConfig


class ConfigError(ValueError):
    """The training configuration is invalid; the message names the key."""


@dataclass
class DataConfig:
    """Which bags, which categories, how crops and batches are made."""

    bags: list[str] = field(default_factory=list)  #: bag dirs, or parents whose sub-dirs are bags
    cache: str = ""  #: a crop cache directory (``selfpose cache``) read instead of the bags
    #: empty: the categories of ``--init``'s checkpoint, else those the recorder stored in the bags' metadata
    categories: list[str] = field(default_factory=lambda: ["bottle", "bowl", "can", "mug"])
    mode: str = "self_supervised"  #: or 'supervised' (ground-truth poses: the upper bound only)
    crop_size: int = 64
    min_mask_pixels: int = 50
    min_feature_cells: int = 4  #: crops with fewer mask cells at stride 4 are left out
    prior_vertices: int = 150  #: decimate each prior to about this many vertices (0: full prior)
    videos: int = 8
    frames: int = 4
    chain_videos: int = 2
    stride: int = 2
    strategy: str = "spread"
    max_triplet_stride: int = 4
    #: simulated bags mixed into every epoch (adaptation: nothing already learnt is forgotten)
    replay: list[str] = field(default_factory=list)
    replay_share: float = 0.0  #: share of the sampled videos drawn from data.replay
    #: held-out recorded bags (no labels) for the self-supervised validation signal; empty with
    #: run.val_every > 0: the last recording of data.bags is held out
    val_bags: list[str] = field(default_factory=list)
    camera_namespace: str = "/camera"  #: the camera topics' namespace in the bags (record.launch.py camera:=)
    min_keyframes: int = 0  #: a bag of data.bags with fewer synchronised frames is refused before the run (0: off)


@dataclass
class PseudoLabelConfig:
    """Self-supervised pose pseudo-labels from fused trajectory depth (train/pseudo_labels.py)."""

    enabled: bool = True
    #: 'trajectory' (crops fused with camera motion), 'fusion' (pose_estimator's fused boxes, train/fusion_labels.py;
    #: trajectories it did not box: as 'trajectory') or 'frame' (single views)
    mode: str = "trajectory"
    use_up: bool = True  #: objects stand upright: search yaw about the world +Z only
    inlier_threshold: float = 0.006
    min_quality: float = 0.5  #: labels whose fit inlier ratio is lower are not used
    #: asymmetric categories: also fit this many shape-library instances (shapes.templates); the closest fit wins
    templates: int = 0
    workers: int = 0  #: mode fusion: bags labelled at once, in processes (0: one per CPU core)


@dataclass
class OptimConfig:
    """AdamW + warmup + cosine schedule, gradient clipping, mixed precision."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    steps: int = 1000
    min_lr_ratio: float = 0.02
    grad_clip: float = 1.0
    mean_mesh_lr_scale: float = 0.1
    amp: str = "auto"  #: auto (bf16/fp16 on GPU, off on CPU) | off | bf16 | fp16
    ema: float = 0.0  #: EMA decay of the weights (0: off); model.pt and run.export then hold the EMA weights


@dataclass
class AugmentConfig:
    """Photometric augmentation of the crops (geometry is left alone so masks and intrinsics stay exact)."""

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.03
    grayscale: float = 0.05
    strong_scale: float = 2.0  #: the second (VICReg) view uses this multiple of the ranges
    depth_dropout: float = 0.0  #: RGB-D models: share of crops whose depth input is withheld (the RGB-only path)


@dataclass
class RunConfig:
    """Where to write, how often, on what."""

    out_dir: str = "runs/train"
    seed: int = 0
    device: str = "auto"
    threads: int = 0  #: torch CPU threads (0: torch's default)
    num_workers: int = 0
    log_every: int = 10
    checkpoint_every: int = 100
    image_every: int = 200
    max_minutes: float = 0.0  #: stop (and checkpoint) after this wall time; 0 = no limit
    stop_after: int = 0  #: stop (and checkpoint) after this many steps in this session; 0 = run to optim.steps
    export: str = ""  #: also write the fp16 model here at each checkpoint (e.g. models/cse_x.pt)
    val_every: int = 0  #: steps between self-supervised validations on data.val_bags (0: none)
    val_batches: int = 4  #: fixed validation batches per validation
    patience: int = 0  #: stop after this many validations without improvement (0: never stop early)
    min_delta: float = 0.0  #: a validation signal must drop by more than this to count as an improvement
    progress: bool = True


@dataclass
class TrainConfig:
    """The whole training configuration."""

    name: str = "train"
    data: DataConfig = field(default_factory=DataConfig)
    pseudo_labels: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    model: CSEConfig = field(default_factory=CSEConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    losses: LossWeights = field(default_factory=LossWeights)
    labels: LabelWeights = field(default_factory=LabelWeights)
    loss_options: LossOptions = field(default_factory=LossOptions)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        """Plain dict (YAML/JSON-safe) of the configuration."""
        d = dataclasses.asdict(self)
        d["model"]["projector_dims"] = list(self.model.projector_dims)
        return d


_SECTIONS = {"data": DataConfig, "pseudo_labels": PseudoLabelConfig, "model": CSEConfig, "optim": OptimConfig,
             "losses": LossWeights, "labels": LabelWeights, "loss_options": LossOptions, "augment": AugmentConfig,
             "run": RunConfig}


def _coerce(section: str, f: dataclasses.Field, value: Any) -> Any:
    where = f"{section}.{f.name}"
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return tuple(value) if isinstance(default, tuple) else list(value)
    return value


def _section(name: str, cls, raw: Any):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"section '{name}' must be a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) in '{name}': {unknown}; known: {sorted(known)}")
    kwargs = {k: _coerce(name, known[k], v) for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"section '{name}': {exc}") from None


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check cross-field rules; return ``cfg`` or raise ConfigError."""
    d = cfg.data
    _check(bool(d.bags) or bool(d.cache), "data.bags must list at least one bag (or a directory of bags), "
                                          "or data.cache name a crop cache")
    bad = [c for c in d.categories if c not in CATEGORIES]
    _check(not bad, f"data.categories {bad} are unknown; known: {list(CATEGORIES)}")
    _check(len(set(d.categories)) == len(d.categories), "data.categories has duplicates")
    _check(d.mode in ("self_supervised", "supervised"), f"data.mode must be self_supervised or supervised, "
                                                        f"got {d.mode!r}")
    _check(d.crop_size == cfg.model.image_size, f"data.crop_size ({d.crop_size}) must equal model.image_size "
                                                f"({cfg.model.image_size})")
    _check(d.videos >= 1 and d.frames >= 2, "data.videos must be >= 1 and data.frames >= 2 (pairs need 2 frames)")
    _check(d.videos * d.frames >= 2, "a batch needs at least 2 crops (BatchNorm, VICReg)")
    _check(0 <= d.chain_videos <= d.videos, "data.chain_videos must be in [0, data.videos]")
    _check(d.strategy in ("spread", "random"), f"data.strategy must be spread or random, got {d.strategy!r}")
    _check(d.prior_vertices == 0 or d.prior_vertices >= max(cfg.model.num_keypoints, 20),
           f"data.prior_vertices must be 0 (full prior) or >= max(20, model.num_keypoints), got {d.prior_vertices}")
    _check(d.min_mask_pixels >= 1 and d.min_feature_cells >= 1, "data.min_mask_pixels/min_feature_cells must be >= 1")
    _check(0 <= d.replay_share < 1, f"data.replay_share must be in [0, 1), got {d.replay_share}")
    _check(d.replay_share == 0 or bool(d.replay), "data.replay_share > 0 needs data.replay (simulated bags)")
    _check(not (d.cache and (d.replay or d.val_bags)), "data.replay and data.val_bags read bags: not with data.cache")
    _check(d.camera_namespace.startswith("/"), f"data.camera_namespace must start with '/', got "
                                               f"{d.camera_namespace!r}")
    _check(d.min_keyframes >= 0, f"data.min_keyframes must be >= 0, got {d.min_keyframes}")
    p = cfg.pseudo_labels
    _check(p.mode in ("trajectory", "fusion", "frame"),
           f"pseudo_labels.mode must be trajectory, fusion or frame, got {p.mode!r}")
    _check(p.inlier_threshold > 0 and 0 <= p.min_quality <= 1, "pseudo_labels.inlier_threshold must be > 0 and "
                                                               "min_quality in [0, 1]")
    _check(0 <= p.templates <= 64, f"pseudo_labels.templates must be in [0, 64], got {p.templates}")
    _check(p.workers >= 0, f"pseudo_labels.workers must be >= 0 (0: one per CPU core), got {p.workers}")
    o = cfg.optim
    _check(o.lr > 0 and o.weight_decay >= 0, "optim.lr must be > 0 and optim.weight_decay >= 0")
    _check(o.steps >= 1 and 0 <= o.warmup_steps < max(o.steps, 1) + 1, "optim.steps must be >= 1 and "
                                                                       "0 <= warmup_steps <= steps")
    _check(0 <= o.min_lr_ratio <= 1 and o.grad_clip >= 0 and o.mean_mesh_lr_scale >= 0,
           "optim.min_lr_ratio in [0, 1], grad_clip >= 0 (0 = off), mean_mesh_lr_scale >= 0")
    _check(o.amp in ("auto", "off", "bf16", "fp16"), f"optim.amp must be auto, off, bf16 or fp16, got {o.amp!r}")
    _check(0 <= o.ema < 1, f"optim.ema must be in [0, 1) (0: off), got {o.ema}")
    lo = cfg.loss_options
    _check(lo.render_size == 0 or lo.render_size >= 8, "loss_options.render_size must be 0 (off) or >= 8")
    _check(lo.render_samples == 0 or lo.render_samples >= 2, "loss_options.render_samples must be 0 (all) or >= 2")
    _check(0 <= lo.teacher_momentum < 1, "loss_options.teacher_momentum must be in [0, 1)")
    _check(lo.cross_instance_k >= 1 and lo.keypoint_sigma > 0, "cross_instance_k >= 1, keypoint_sigma > 0")
    _check(0 <= lo.contrastive_near < lo.contrastive_far, "need 0 <= contrastive_near < contrastive_far")
    _check(lo.coords_symmetry_steps >= 1, "loss_options.coords_symmetry_steps must be >= 1")
    for f in fields(LabelWeights):
        _check(getattr(cfg.labels, f.name) >= 0, f"labels.{f.name} must be >= 0")
    a = cfg.augment
    _check(0 <= a.depth_dropout <= 1, "augment.depth_dropout must be in [0, 1]")
    _check(min(a.brightness, a.contrast, a.saturation, a.hue, a.grayscale) >= 0 and a.hue <= 0.5
           and a.grayscale <= 1 and a.strong_scale >= 0, "augment ranges must be >= 0 (hue <= 0.5, grayscale <= 1)")
    r = cfg.run
    _check(r.log_every >= 1 and r.checkpoint_every >= 1 and r.image_every >= 0, "run.log_every and "
           "run.checkpoint_every must be >= 1, run.image_every >= 0 (0 = no images)")
    _check(min(r.threads, r.num_workers, r.max_minutes, r.stop_after) >= 0,
           "run.threads, run.num_workers, run.max_minutes, run.stop_after must be >= 0")
    _check(r.val_every >= 0 and r.val_batches >= 1 and r.patience >= 0 and r.min_delta >= 0,
           "run.val_every, run.patience, run.min_delta must be >= 0 and run.val_batches >= 1")
    _check(r.patience == 0 or r.val_every > 0, "run.patience needs run.val_every > 0 (the validation it counts)")
    _check(r.val_every == 0 or not d.cache, "run.val_every validates on recorded bags: not with data.cache")
    _check(r.device == "auto" or r.device == "cpu" or r.device.startswith("cuda"),
           f"run.device must be auto, cpu or cuda[:N], got {r.device!r}")
    return cfg


def config_from_dict(raw: Any) -> TrainConfig:
    """Build and validate a TrainConfig from a parsed YAML mapping."""
    if not isinstance(raw, dict):
        raise ConfigError(f"the training config must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_SECTIONS) - {"name"})
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; known: {['name', *_SECTIONS]}")
    name = raw.get("name", "train")
    _check(isinstance(name, str) and bool(name), f"name must be a non-empty string, got {name!r}")
    parts = {k: _section(k, cls, raw.get(k)) for k, cls in _SECTIONS.items()}
    return validate(TrainConfig(name=name, **parts))


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML training config, apply ``section.key=value`` overrides (YAML values), validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    for item in overrides or []:
        key, sep, value = item.partition("=")
        parts = key.split(".")
        if not sep or len(parts) not in (1, 2) or not all(parts):
            raise ConfigError(f"override {item!r} must look like section.key=value")
        if not isinstance(raw, dict):
            break
        if len(parts) == 1:
            raw[parts[0]] = yaml.safe_load(value)
        else:
            sec = raw.setdefault(parts[0], {})
            if not isinstance(sec, dict):
                raise ConfigError(f"override {item!r}: section {parts[0]!r} is not a mapping")
            sec[parts[1]] = yaml.safe_load(value)
    try:
        return config_from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def resolve_categories(cfg: TrainConfig, init_categories: list[str] | None, bag_categories: list[str]) -> None:
    """Fill an empty data.categories from the --init checkpoint, else from the bags' metadata; raise ConfigError."""
    if not cfg.data.categories:
        cfg.data.categories = list(init_categories or [c for c in bag_categories if c in CATEGORIES])
    _check(bool(cfg.data.categories), "data.categories is empty and neither --init nor the bags' metadata "
                                      "(selfpose_ros.label_categories) names any known category")
    validate(cfg)


#: Model options a run may switch on over a checkpoint without them: their parameters start fresh.
ADDED_ON_INIT = ("vertex_table", "learn_tau")


def init_differences(cfg: TrainConfig, categories: list[str], model_config: dict,
                     prior_extents: dict[str, Any]) -> list[str]:
    """What keeps a checkpoint (categories, model config, prior box extents) from starting this config; [] = fits."""
    import numpy as np

    from selfpose_ros.shapes.priors import load_prior

    out = []
    if list(cfg.data.categories) != list(categories):
        out.append(f"categories {list(categories)} (checkpoint) != {list(cfg.data.categories)} (data.categories)")
    mine = cfg.to_dict()["model"]
    for key in sorted(set(mine) | set(model_config)):
        a, b = model_config.get(key), mine.get(key)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            a, b = list(a), list(b)
        if a != b and not (key in ADDED_ON_INIT and not a):
            out.append(f"model.{key} {a!r} (checkpoint) != {b!r} (config)")
    for cat, ext in prior_extents.items():
        if cat not in CATEGORIES:
            continue
        v, _ = load_prior(cat)
        ours = np.ptp(np.asarray(v, np.float64), axis=0)
        rel = float(np.max(np.abs(np.asarray(ext, np.float64) - ours) / np.maximum(ours, 1e-9)))
        if rel > 0.15:  # decimation (data.prior_vertices) moves the box by a few % at most
            out.append(f"prior {cat} box {[round(float(x), 3) for x in ext]} (checkpoint) differs from this "
                       f"build's {[round(float(x), 3) for x in ours]} by {100 * rel:.0f}%")
    return out
