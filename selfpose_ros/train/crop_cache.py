"""The crop cache: a training set of instance crops, pseudo-labels and camera motion in two .npz files.

Why: reading bags, cropping and fitting the trajectory pseudo-labels needs rosbags, Open3D and the shape library,
and takes minutes; the cache needs numpy, OpenCV and torch only, loads in seconds, and is small enough to carry
to a GPU machine. ``selfpose cache`` writes it (``train/crop_cache_build.py``); ``data.cache: DIR`` in a
training config reads it instead of ``data.bags``.

``DIR/crops.npz`` (no pickled objects; read with ``allow_pickle=False``):

- ``format`` = FORMAT, ``version``; ``crop_size``; ``categories`` (C,) str; ``bags`` (nbags,) str;
- per crop (N): ``rgb_bytes`` + ``rgb_offsets`` (N+1,) (JPEG or PNG, RGB order), ``depth_bytes`` +
  ``depth_offsets`` (16-bit PNG, millimetres, 0 = no reading), ``mask_bits`` (N, S*S/8) packed bits, ``K``
  (N,3,3), ``category`` (N,) index into ``categories``, ``frame`` (N,), ``label``, ``instance``, ``pixels``,
  ``median_depth``, ``visibility``, ``feature_cells`` (stride-4 cells with >= 50 % mask);
- per frame (F): ``frame_bag``, ``frame_stamp_ns``, ``frame_T_map_cam`` (F,4,4), ``frame_segment``,
  ``frame_index``;
- pseudo-labels ``pl_valid``, ``pl_scale``, ``pl_R``, ``pl_t``, ``pl_quality``, ``pl_extents``,
  ``pl_extents_valid``, ``pl_handle_visible`` (train/pseudo_labels.py; no ground truth involved);
- model priors ``prior_vertices_<cat>``, ``prior_faces_<cat>`` (decimated as ``data.prior_vertices``);
  ``typical_scale`` (C,) median label diagonal per category (metres); ``extent_log_lo`` / ``extent_log_hi``
  (C,3): the range of log unit-diagonal extents over the shape library (the plausibility regulariser).

``DIR/ground_truth.npz`` (only with ``selfpose cache --ground-truth``): ``gt_R`` (N,3,3), ``gt_t``, ``gt_scale``,
``gt_size`` (N,3). Self-supervised training never opens it; supervised training, the pseudo-label report and
``selfpose probe`` do.
"""

from __future__ import annotations

import collections
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

FORMAT = "selfpose_ros/crop-cache"
VERSION = 1
CROPS_FILE = "crops.npz"
GT_FILE = "ground_truth.npz"
PL_KEYS = ("valid", "scale", "R", "t", "quality", "extents", "extents_valid", "handle_visible")


class CacheError(ValueError):
    """The crop cache is missing, of another version, or damaged; the message names the problem."""


def encode_depth_png(depth: np.ndarray) -> bytes:
    """16-bit PNG of depth in millimetres (NaN, inf and <= 0 become 0 = no reading; clipped at 65.535 m)."""
    d = np.nan_to_num(np.asarray(depth, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    mm = np.clip(np.round(d * 1000.0), 0, 65535).astype(np.uint16)
    ok, buf = cv2.imencode(".png", mm)
    if not ok:
        raise ValueError("PNG encoding of a depth crop failed")
    return buf.tobytes()


def encode_rgb(rgb: np.ndarray, codec: str = "jpeg", quality: int = 95) -> bytes:
    """JPEG (``quality``) or PNG bytes of an RGB uint8 image."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2BGR)
    if codec == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    elif codec == "png":
        ok, buf = cv2.imencode(".png", bgr)
    else:
        raise ValueError(f"unknown rgb codec {codec!r}; use jpeg or png")
    if not ok:
        raise ValueError("encoding of an RGB crop failed")
    return buf.tobytes()


def _blob(data: np.ndarray, offsets: np.ndarray, i: int) -> np.ndarray:
    return data[int(offsets[i]):int(offsets[i + 1])]


class CropCacheDataset(Dataset):
    """Items of a crop cache, with the same layout as ``TrajectoryDataset.__getitem__`` (docs/dataset.md)."""

    def __init__(self, root: str | Path, categories: list[str] | None = None, supervised: bool = False) -> None:
        self.root = Path(root)
        path = self.root / CROPS_FILE
        if not path.is_file():
            raise CacheError(f"crop cache {self.root} has no {CROPS_FILE}: build it with `selfpose cache`")
        try:
            with np.load(path, allow_pickle=False) as z:
                self.z = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise CacheError(f"{path} is corrupt or truncated: {exc}") from None
        if str(self.z.get("format", "")) != FORMAT or int(self.z.get("version", -1)) != VERSION:
            raise CacheError(f"{path} is not a version-{VERSION} selfpose_ros crop cache")
        self.categories = tuple(str(c) for c in self.z["categories"])
        self.crop_size = int(self.z["crop_size"])
        self.bags = [str(b) for b in self.z["bags"]]
        wanted = list(categories) if categories is not None else list(self.categories)
        unknown = [c for c in wanted if c not in self.categories]
        if unknown:
            raise CacheError(f"{self.root} has categories {list(self.categories)}, not {unknown}")
        cat_names = np.array(self.categories)[self.z["category"]]
        self.indices = np.flatnonzero(np.isin(cat_names, wanted))  # dataset index -> cache row
        self.train_categories = tuple(wanted)
        self.gt = self._load_gt() if supervised else None
        self._build_groups()

    def _load_gt(self) -> dict:
        path = self.root / GT_FILE
        if not path.is_file():
            raise CacheError(f"{self.root} has no {GT_FILE} (build the cache with --ground-truth)")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def _build_groups(self) -> None:
        z, rows = self.z, self.indices
        frames = z["frame"][rows]
        keys = list(zip(z["frame_bag"][frames].tolist(), z["frame_segment"][frames].tolist(),
                        z["label"][rows].tolist()))
        groups: dict[tuple, list[int]] = collections.defaultdict(list)
        for i, k in enumerate(keys):
            groups[k].append(i)
        fidx = z["frame_index"][frames]
        self.group_keys = sorted(groups)
        self.groups = [sorted(groups[k], key=lambda i: fidx[i]) for k in self.group_keys]
        self._group_of = np.empty(len(rows), np.int64)
        for g, members in enumerate(self.groups):
            self._group_of[members] = g
        self._frame_index = fidx.astype(np.int64)

    @property
    def load_seconds(self) -> float:
        """Kept for the stats line of the bag dataset."""
        return 0.0

    @property
    def supervised(self) -> bool:
        """True when items carry ground-truth poses."""
        return self.gt is not None

    def __len__(self) -> int:
        return len(self.indices)

    def row(self, index: int) -> int:
        """Cache row of dataset item ``index``."""
        return int(self.indices[index])

    def frame_index(self, index: int) -> int:
        """Frame index of item ``index`` within its trajectory segment."""
        return int(self._frame_index[index])

    def group_of(self, index: int) -> int:
        """Group (trajectory x instance) of item ``index``."""
        return int(self._group_of[index])

    def feature_cells(self, index: int) -> int:
        """Stride-4 cells that the crop's mask covers by at least half."""
        return int(self.z["feature_cells"][self.row(index)])

    def category_name(self, index: int) -> str:
        """Category of item ``index``."""
        return self.categories[int(self.z["category"][self.row(index)])]

    def instance_key(self, index: int) -> str:
        """Readable group name: '<bag name>/seg<segment>/<category>_<instance>'."""
        r = self.row(index)
        f = int(self.z["frame"][r])
        bag = Path(self.bags[int(self.z["frame_bag"][f])]).name
        return f"{bag}/seg{int(self.z['frame_segment'][f])}/{self.category_name(index)}_{int(self.z['instance'][r])}"

    def decode(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb (S,S,3) uint8, depth (S,S) float32 metres with 0 = none, mask (S,S) bool) of item ``index``."""
        z, r, S = self.z, self.row(index), self.crop_size
        bgr = cv2.imdecode(_blob(z["rgb_bytes"], z["rgb_offsets"], r), cv2.IMREAD_COLOR)
        mm = cv2.imdecode(_blob(z["depth_bytes"], z["depth_offsets"], r), cv2.IMREAD_UNCHANGED)
        if bgr is None or mm is None or bgr.shape[:2] != (S, S) or mm.shape != (S, S):
            raise CacheError(f"{self.root}: crop {r} does not decode to {S}x{S} images")
        mask = np.unpackbits(z["mask_bits"][r])[: S * S].reshape(S, S).astype(bool)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), mm.astype(np.float32) / 1000.0, mask

    def pseudo_labels(self) -> dict[str, torch.Tensor]:
        """The cached pseudo-labels over dataset indices (see ``labels_to_arrays``)."""
        return {k: torch.from_numpy(np.ascontiguousarray(self.z[f"pl_{k}"][self.indices])) for k in PL_KEYS}

    def priors(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{category: (vertices, faces)} of the model, for the categories trained."""
        return {c: (self.z[f"prior_vertices_{c}"], self.z[f"prior_faces_{c}"]) for c in self.train_categories}

    def category_table(self, key: str) -> dict[str, np.ndarray]:
        """A per-category array of the cache (``typical_scale``, ``extent_log_lo``, ``extent_log_hi``)."""
        return {c: self.z[key][self.categories.index(c)] for c in self.train_categories}

    def ground_truth(self) -> dict[str, np.ndarray]:
        """Ground-truth arrays over dataset indices (R, t, scale, size); CacheError when the cache has none."""
        gt = self.gt if self.gt is not None else self._load_gt()
        return {k[3:]: gt[k][self.indices] for k in ("gt_R", "gt_t", "gt_scale", "gt_size")}

    def __getitem__(self, index: int) -> dict:
        """One instance in one frame as tensors (the bag dataset's layout)."""
        if not 0 <= index < len(self.indices):
            raise IndexError(f"index {index} outside [0, {len(self.indices)})")
        z, r = self.z, self.row(index)
        rgb, depth, mask = self.decode(index)
        f = int(z["frame"][r])
        item = {
            "rgb": torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0),
            "depth": torch.from_numpy(depth)[None],
            "mask": torch.from_numpy(mask)[None].float(),
            "K": torch.from_numpy(z["K"][r]).float(),
            "T_map_cam": torch.from_numpy(z["frame_T_map_cam"][f].astype(np.float64)),
            "category": torch.tensor(self.train_categories.index(self.category_name(index)), dtype=torch.int64),
            "group": torch.tensor(self._group_of[index], dtype=torch.int64),
            "frame_index": torch.tensor(self._frame_index[index], dtype=torch.int64),
            "stamp_ns": torch.tensor(int(z["frame_stamp_ns"][f]), dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
            "visibility": torch.tensor(float(z["visibility"][r]), dtype=torch.float32),
            "instance_key": self.instance_key(index),
            "category_name": self.category_name(index),
        }
        if self.gt is not None:
            item["gt_scale"] = torch.tensor(float(self.gt["gt_scale"][r]), dtype=torch.float32)
            item["gt_R"] = torch.from_numpy(self.gt["gt_R"][r]).float()
            item["gt_t"] = torch.from_numpy(self.gt["gt_t"][r]).float()
            item["gt_size"] = torch.from_numpy(self.gt["gt_size"][r]).float()
        return item
