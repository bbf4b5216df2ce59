"""Training set from robot trajectories: per-instance crops of rosbag2 recordings, grouped by trajectory.

Every bag is read once at construction (two passes: TF, camera_info and, only in supervised mode, ground
truth; then the images); each instance of each frame is cropped immediately and only the crops are kept
in memory. ``__getitem__`` then converts one cached crop to tensors. See docs/dataset.md.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from rosbags.rosbag2 import Reader
from torch.utils.data import Dataset

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.data.bag_reader import (
    BagTopics,
    SyncedFrame,
    iter_synced_frames,
    label_categories,
    nearest_info,
    read_side_topics,
)
from selfpose_ros.data.crops import crop_instance
from selfpose_ros.data.instances import extract_instances
from selfpose_ros.data.tf_buffer import TfExtrapolationError
from selfpose_ros.train.dataset_records import (
    CropRecord,
    FrameRecord,
    assign_segments,
    build_groups,
    estimate_visibility,
)

log = logging.getLogger(__name__)

Mode = Literal["self_supervised", "supervised"]


class TrajectoryDataset(Dataset):
    """Instance crops of one or more bags; item ``i`` is one instance in one frame (see ``__getitem__``)."""

    def __init__(
        self,
        bags: Sequence[str | Path],
        categories: Sequence[str] | None = None,
        crop_size: int = 128,
        mode: Mode = "self_supervised",
        min_mask_pixels: int = 64,
        min_visibility: float | None = None,
        padding: float = 0.1,
        topics: BagTopics | None = None,
        label_categories: Sequence[str] | None = None,
        sync_tolerance_ns: int = 0,
        tf_tolerance_ns: int = 0,
        segment_gap_s: float = 5.0,
        visibility_source: Literal["estimate", "ground_truth"] = "estimate",
    ) -> None:
        if mode not in ("self_supervised", "supervised"):
            raise ValueError(f"mode must be 'self_supervised' or 'supervised', got {mode!r}")
        if isinstance(bags, (str, Path)):
            bags = [bags]
        if not bags:
            raise ValueError("no bags given")
        if crop_size < 8:
            raise ValueError(f"crop_size must be >= 8, got {crop_size}")
        if min_mask_pixels < 1:
            raise ValueError(f"min_mask_pixels must be >= 1, got {min_mask_pixels}")
        if min_visibility is not None and not 0.0 <= min_visibility <= 1.0:
            raise ValueError(f"min_visibility must be in [0, 1] or None, got {min_visibility}")
        if visibility_source not in ("estimate", "ground_truth"):
            raise ValueError(f"visibility_source must be 'estimate' or 'ground_truth', got {visibility_source!r}")
        if visibility_source == "ground_truth" and mode != "supervised":
            raise ValueError("visibility_source='ground_truth' reads the ground-truth topic: needs mode='supervised'")
        if segment_gap_s <= 0:
            raise ValueError(f"segment_gap_s must be positive, got {segment_gap_s}")
        self.bags = [Path(b) for b in bags]
        self.categories = tuple(categories) if categories is not None else CATEGORIES
        self.crop_size, self.mode, self.padding = int(crop_size), mode, float(padding)
        self.min_mask_pixels, self.min_visibility = int(min_mask_pixels), min_visibility
        self.topics = topics or BagTopics()
        self.label_categories_arg = label_categories
        self.sync_tolerance_ns, self.tf_tolerance_ns = int(sync_tolerance_ns), int(tf_tolerance_ns)
        self.frames: list[FrameRecord] = []
        self.crops: list[CropRecord] = []
        self.skipped: Counter[str] = Counter()  # reasons why frames or instances were left out, with counts
        t0 = time.perf_counter()
        for b, path in enumerate(self.bags):
            self._read_bag(b, path)
        if not self.frames:
            raise ValueError(f"no usable frames in {[str(b) for b in self.bags]}: {dict(self.skipped)}")
        assign_segments(self.frames, int(round(segment_gap_s * 1e9)))
        groups = build_groups(self.frames, self.crops)
        estimate_visibility(self.crops, groups)
        if visibility_source == "ground_truth":
            for c in self.crops:
                c.visibility = c.ground_truth.confidence
        if min_visibility is not None:
            self._drop_low_visibility(min_visibility)
            groups = build_groups(self.frames, self.crops)
        self.group_keys = list(groups)
        self.groups: list[list[int]] = [groups[k] for k in self.group_keys]
        self._group_of = np.empty(len(self.crops), dtype=np.int64)
        for g, members in enumerate(self.groups):
            self._group_of[members] = g
        self.load_seconds = time.perf_counter() - t0
        if self.skipped:
            log.warning("dataset left out: %s", dict(self.skipped))

    @property
    def supervised(self) -> bool:
        """True when items carry ground-truth poses."""
        return self.mode == "supervised"

    def _read_bag(self, b: int, path: Path) -> None:
        with Reader(path) as reader:
            label_cats = label_categories(reader, self.label_categories_arg)
            missing = [c for c in self.categories if c not in label_cats]
            if missing:
                raise ValueError(f"categories {missing} are not in {path}'s label categories {list(label_cats)}")
            side = read_side_topics(reader, self.topics, self.supervised, self.tf_tolerance_ns)
            stats: dict = {}
            for frame in iter_synced_frames(reader, self.topics, self.sync_tolerance_ns, stats=stats):
                side.attach_poses(frame.frame_id, self.topics.pose_child_frame)
                try:
                    T = side.tf.lookup(self.topics.world_frame, frame.frame_id, frame.stamp_ns)
                except TfExtrapolationError:
                    self.skipped["frame: camera pose outside the TF data"] += 1
                    continue
                K = nearest_info(side, frame.stamp_ns, frame.rgb.shape[1], frame.rgb.shape[0])
                self.frames.append(FrameRecord(b, frame.stamp_ns, frame.frame_id, T))
                self._crop_frame(len(self.frames) - 1, frame, K, label_cats, side)
            if stats.get("incomplete_frames"):
                self.skipped["frame: colour, depth and segmentation stamps do not all match"] += \
                    stats["incomplete_frames"]

    def _crop_frame(self, f: int, frame: SyncedFrame, K: np.ndarray, label_cats, side) -> None:
        instances, reasons = extract_instances(frame.labels, label_cats, self.categories, self.min_mask_pixels)
        for reason in reasons:
            key = "instance: mask below min_mask_pixels" if reason.kind == "small_mask" else \
                "instance: label outside the label category list"
            self.skipped[key] += 1
        gt_frame = None
        if self.supervised:
            gt_frame = self._ground_truth_at(side, frame.stamp_ns)
        for inst in instances:
            gt = None
            if gt_frame is not None:
                gt = gt_frame.get((inst.category, inst.instance))
                if gt is None:
                    self.skipped["instance: no ground truth (supervised mode)"] += 1
                    continue
                if gt.frame_id.lstrip("/") != frame.frame_id:
                    raise ValueError(f"ground truth is in frame {gt.frame_id!r}, images in {frame.frame_id!r}")
            crop = crop_instance(frame.rgb, frame.depth_m, inst.mask, K, self.crop_size, self.padding, inst.box)
            valid = frame.depth_m[inst.mask]
            valid = valid[np.isfinite(valid) & (valid > 0)]
            median = float(np.median(valid)) if valid.size else float("nan")
            self.crops.append(CropRecord(f, inst.label, inst.category, inst.instance, crop.rgb, crop.depth,
                                         crop.mask, crop.K, inst.pixels, median, gt))

    def _ground_truth_at(self, side, stamp_ns: int):
        if stamp_ns in side.ground_truth:
            return side.ground_truth[stamp_ns]
        stamps = [s for s in side.ground_truth if abs(s - stamp_ns) <= self.sync_tolerance_ns]
        if not stamps:
            self.skipped["frame: no ground-truth message at its stamp (supervised mode)"] += 1
            return {}
        return side.ground_truth[min(stamps, key=lambda s: abs(s - stamp_ns))]

    def _drop_low_visibility(self, threshold: float) -> None:
        keep = [c for c in self.crops if np.isfinite(c.visibility) and c.visibility >= threshold]
        if len(keep) < len(self.crops):
            self.skipped["instance: visibility estimate below min_visibility"] += len(self.crops) - len(keep)
        self.crops = keep

    def __len__(self) -> int:
        return len(self.crops)

    def group_of(self, index: int) -> int:
        """Group (trajectory x instance) of item ``index``."""
        return int(self._group_of[index])

    def frame_index(self, index: int) -> int:
        """Frame index of item ``index`` within its trajectory segment."""
        return self.frames[self.crops[index].frame].index

    def instance_key(self, index: int) -> str:
        """Readable group name: '<bag stem>/seg<segment>/<category>_<instance>'."""
        c = self.crops[index]
        f = self.frames[c.frame]
        return f"{self.bags[f.bag].name}/seg{f.segment}/{c.category}_{c.instance}"

    def __getitem__(self, index: int) -> dict:
        """One instance in one frame as tensors (layout in docs/dataset.md)."""
        if not 0 <= index < len(self.crops):
            raise IndexError(f"index {index} outside [0, {len(self.crops)})")
        c = self.crops[index]
        f = self.frames[c.frame]
        item = {
            "rgb": torch.from_numpy(c.rgb).permute(2, 0, 1).float().div_(255.0),
            "depth": torch.from_numpy(c.depth)[None].clone(),
            "mask": torch.from_numpy(c.mask)[None].float(),
            "K": torch.from_numpy(c.K).float(),
            "T_map_cam": torch.from_numpy(f.T_map_cam).clone(),
            "category": torch.tensor(self.categories.index(c.category), dtype=torch.int64),
            "group": torch.tensor(self._group_of[index], dtype=torch.int64),
            "frame_index": torch.tensor(f.index, dtype=torch.int64),
            "stamp_ns": torch.tensor(f.stamp_ns, dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
            "visibility": torch.tensor(c.visibility, dtype=torch.float32),
            "instance_key": self.instance_key(index),
            "category_name": c.category,
        }
        if self.supervised:
            gt = c.ground_truth
            item["gt_scale"] = torch.tensor(gt.scale, dtype=torch.float32)
            item["gt_R"] = torch.from_numpy(gt.R).float()
            item["gt_t"] = torch.from_numpy(gt.t).float()
        return item
