"""Model checkpoints: one file holding weights, model config, priors, categories, training config and command.

Layout (a ``torch.save`` dict, read back with ``weights_only=True``, so loading never runs pickled code):

- ``format`` = ``FORMAT``, ``version`` = ``VERSION`` (bumped on any incompatible change);
- ``categories``: the model's categories, in head order; ``model_config``: the :class:`CSEConfig` fields;
- ``priors``: per category the initial mesh ``vertices`` (N, 3) and ``faces`` (F, 3) the model was built on;
- ``weights``: the state dict, in ``weights_dtype`` (float16 for shipped models, float32 for resumable ones);
- ``weights_sha256``: SHA-256 over the names, dtypes, shapes and bytes of the weights and priors;
- ``train_config`` (the validated YAML as a dict), ``command`` (the command line), ``step``, ``created``,
  ``metrics`` and ``extra`` (free-form, JSON-like);
- optionally ``train_state`` (optimizer, scheduler, EMA teacher, RNG) for ``selfpose train --resume``.

Loading checks the format, version, hash and, when asked, the categories, and raises
:class:`CheckpointError` (a ValueError) naming the problem.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from selfpose_ros.model.cse_model import CSEConfig, CSEModel

FORMAT = "selfpose_ros/cse-checkpoint"
VERSION = 1
#: Buffers that checkpoints of RGB-only models written before they existed lack (their defaults are unused).
_OPTIONAL_BUFFERS = ("depth_scale",)
_REQUIRED = ("format", "version", "categories", "model_config", "priors", "weights", "weights_dtype",
             "weights_sha256")


class CheckpointError(ValueError):
    """A checkpoint cannot be used: corrupt, truncated, of another version, or for other categories."""


@dataclass
class Checkpoint:
    """The decoded contents of a checkpoint file."""

    categories: list[str]
    model_config: CSEConfig
    priors: dict[str, tuple[torch.Tensor, torch.Tensor]]
    weights: dict[str, torch.Tensor]
    weights_sha256: str
    train_config: dict = field(default_factory=dict)
    command: str = ""
    step: int = 0
    created: str = ""
    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    train_state: dict | None = None
    path: Path | None = None

    def build_model(self, device: str | torch.device = "cpu") -> CSEModel:
        """Return the CSEModel with these weights (float32, eval mode) on ``device``."""
        model = CSEModel(self.model_config, self.priors)
        state = {k: v.float() if v.is_floating_point() else v for k, v in self.weights.items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if k not in _OPTIONAL_BUFFERS]  # RGB models written before they existed
        if missing or unexpected:
            raise CheckpointError(f"{self.path}: weights do not fit the model config (missing {missing[:5]}, "
                                  f"unexpected {unexpected[:5]})")
        return model.to(device).eval()


def weights_digest(weights: Mapping[str, torch.Tensor], priors: Mapping[str, tuple] | None = None) -> str:
    """SHA-256 (hex) over sorted names, dtypes, shapes and raw bytes of the weights and the priors."""
    h = hashlib.sha256()
    items = dict(weights)
    for cat, (verts, faces) in (priors or {}).items():
        items[f"__prior__/{cat}/vertices"] = torch.as_tensor(verts)
        items[f"__prior__/{cat}/faces"] = torch.as_tensor(faces)
    for name in sorted(items):
        t = items[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _config_dict(config: CSEConfig) -> dict:
    d = asdict(config)
    d["projector_dims"] = list(config.projector_dims)
    return d


def _config_from_dict(d: Mapping, where: str) -> CSEConfig:
    names = {f.name for f in fields(CSEConfig)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise CheckpointError(f"{where}: model_config has unknown fields {unknown} (written by a newer build?)")
    kwargs = dict(d)
    if "projector_dims" in kwargs:
        kwargs["projector_dims"] = tuple(kwargs["projector_dims"])
    try:
        return CSEConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: invalid model_config: {exc}") from None


def save_checkpoint(
    path: str | Path,
    model: CSEModel,
    priors: Mapping[str, tuple],
    *,
    train_config: Mapping | None = None,
    command: str = "",
    step: int = 0,
    half: bool = True,
    metrics: Mapping | None = None,
    extra: Mapping | None = None,
    train_state: Mapping | None = None,
) -> str:
    """Write ``model`` (unwrapped CSEModel) to ``path`` atomically; return the weights' SHA-256.

    ``half`` stores floating-point weights as float16 (shipped models); resumable checkpoints use False.
    """
    if list(priors) != list(model.categories):
        raise ValueError(f"priors {list(priors)} do not match the model's categories {model.categories}")
    dtype = torch.float16 if half else torch.float32
    weights = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu().clone())
               for k, v in model.state_dict().items()}
    prior_t = {c: {"vertices": torch.as_tensor(v, dtype=torch.float32).cpu(),
                   "faces": torch.as_tensor(f, dtype=torch.int64).cpu()} for c, (v, f) in priors.items()}
    digest = weights_digest(weights, {c: (p["vertices"], p["faces"]) for c, p in prior_t.items()})
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "categories": list(model.categories),
        "model_config": _config_dict(model.config),
        "priors": prior_t,
        "weights": weights,
        "weights_dtype": str(dtype).replace("torch.", ""),
        "weights_sha256": digest,
        "train_config": dict(train_config or {}),
        "command": command,
        "step": int(step),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "metrics": dict(metrics or {}),
        "extra": dict(extra or {}),
    }
    if train_state is not None:
        payload["train_state"] = dict(train_state)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return digest


def _read_raw(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError... for damaged files
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated and cannot be read "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a selfpose_ros checkpoint (format {FORMAT!r} expected)")
    version = raw.get("version")
    if version != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version!r}; this build reads version "
                              f"{VERSION}: retrain or convert the model")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise CheckpointError(f"{path} lacks the fields {missing}: the file is incomplete")
    return raw


def read_header(path: str | Path) -> dict:
    """Return the checkpoint's metadata (everything except weights and train state), after format checks."""
    raw = _read_raw(path)
    return {k: v for k, v in raw.items() if k not in ("weights", "train_state", "priors")}


def check_categories(available: Sequence[str], requested: Sequence[str] | None, where: str) -> None:
    """Raise CheckpointError unless every requested category is covered by the checkpoint."""
    if requested is None:
        return
    missing = [c for c in requested if c not in available]
    if missing:
        raise CheckpointError(f"{where} covers categories {list(available)}, but {missing} were requested")


def load_checkpoint(path: str | Path, categories: Sequence[str] | None = None) -> Checkpoint:
    """Read and verify a checkpoint; ``categories`` (optional) must all be covered by it."""
    raw = _read_raw(path)
    where = str(path)
    weights, priors_raw = raw["weights"], raw["priors"]
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{where}: 'weights' is not a dict of tensors")
    try:
        priors = {c: (p["vertices"], p["faces"]) for c, p in priors_raw.items()}
    except (AttributeError, KeyError, TypeError):
        raise CheckpointError(f"{where}: 'priors' must map category -> {{vertices, faces}}") from None
    digest = weights_digest(weights, priors)
    if digest != raw["weights_sha256"]:
        raise CheckpointError(f"{where}: weights SHA-256 mismatch (stored {str(raw['weights_sha256'])[:12]}..., "
                              f"computed {digest[:12]}...): the file is corrupt or was modified")
    cats = list(raw["categories"])
    if cats != list(priors):
        raise CheckpointError(f"{where}: categories {cats} disagree with the stored priors {list(priors)}")
    check_categories(cats, categories, where)
    return Checkpoint(
        categories=cats,
        model_config=_config_from_dict(raw["model_config"], where),
        priors=priors,
        weights=weights,
        weights_sha256=digest,
        train_config=dict(raw.get("train_config") or {}),
        command=str(raw.get("command", "")),
        step=int(raw.get("step", 0)),
        created=str(raw.get("created", "")),
        metrics=dict(raw.get("metrics") or {}),
        extra=dict(raw.get("extra") or {}),
        train_state=raw.get("train_state"),
        path=Path(path),
    )
