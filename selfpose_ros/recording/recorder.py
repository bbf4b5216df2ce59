"""Trajectory recordings as a sequence of closed, self-contained rosbag2 MCAP bags (pure Python, no rclpy).

A recording (``start`` .. ``stop``) writes ``<output_dir>/<prefix>_<date>_<k>/`` for k = 0, 1, ...; a new
bag begins when the current one reaches ``max_bag_bytes``, or ``max_bag_duration_ns`` once it holds a keyframe
(so no split is TF alone while the camera has not started or stands still). Every bag starts
with ``/trajectory/metadata`` (latched), the latest ``/tf_static`` tree (latched) and the ``/tf`` messages
of the last ``tf_history_ns``, so each can be used alone. A keyframe is written as its images, its
camera_info, ``/trajectory/camera_pose`` and last ``/trajectory/keyframe``: a keyframe message in a bag
means the frame's data is there too, even after a crash.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from rosbags.rosbag2 import WriterError

from selfpose_ros.data.bag_reader import LABEL_CATEGORIES_KEY
from selfpose_ros.recording.bag_writer import COMPRESSIONS, BagWriteError, CrashSafeBag
from selfpose_ros.recording.messages import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    KEYFRAME_TOPIC,
    LATCHED_QOS,
    METADATA_TOPIC,
    POSE_TOPIC,
    POSE_TYPE,
    STRING_TYPE,
    TF_STATIC_TOPIC,
    TF_TOPIC,
    TF_TYPE,
    pose_stamped_cdr,
    string_cdr,
)
from selfpose_ros.recording.output_dir import check_output_dir

#: custom_data key of every bag: the recording's description (JSON), also published on METADATA_TOPIC.
RECORDING_KEY = "selfpose_ros.recording"


@dataclass(frozen=True)
class RecorderConfig:
    """Where and how bags are written (byte and nanosecond limits; 0 disables a split limit)."""

    output_dir: Path
    prefix: str = "trajectory"
    max_bag_bytes: int = 0
    max_bag_duration_ns: int = 0
    chunk_period_ns: int = 1_000_000_000
    metadata_period_ns: int = 5_000_000_000
    compression: str = "none"
    tf_history_ns: int = 2_000_000_000
    min_free_bytes: int = 0  #: ``start`` refuses an output_dir with less free space (or not writable)

    def validate(self) -> None:
        """Raise ValueError listing every bad setting."""
        errors = []
        if not str(self.output_dir):
            errors.append("output_dir must not be empty")
        if not self.prefix or "/" in self.prefix:
            errors.append(f"prefix must be a non-empty name without '/', got {self.prefix!r}")
        for name in ("max_bag_bytes", "max_bag_duration_ns", "tf_history_ns", "min_free_bytes"):
            if getattr(self, name) < 0:
                errors.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("chunk_period_ns", "metadata_period_ns"):
            if getattr(self, name) <= 0:
                errors.append(f"{name} must be > 0, got {getattr(self, name)}")
        if self.compression not in COMPRESSIONS:
            errors.append(f"compression must be one of {COMPRESSIONS}, got {self.compression!r}")
        if errors:
            raise ValueError("invalid recorder settings: " + "; ".join(errors))


@dataclass(frozen=True)
class KeyframeRecord:
    """One kept frame: its serialised images and camera_info, its camera pose and what the gate said."""

    stamp_ns: int
    fixed_frame: str
    T_fixed_camera: np.ndarray  # (4, 4) fixed frame <- camera optical frame at stamp_ns
    images: Sequence[tuple[str, bytes]]  # (topic, CDR of sensor_msgs/Image)
    camera_info: tuple[str, bytes]  # (topic, CDR of sensor_msgs/CameraInfo)
    fields: dict[str, Any] = field(default_factory=dict)  # gate decision etc., copied into the keyframe JSON


class BagRecorder:
    """Turns TF messages and keyframes into split, crash-safe bags; one recording at a time."""

    def __init__(self, config: RecorderConfig, description: dict[str, Any], *,
                 wrap_file: Callable[[BinaryIO], BinaryIO] | None = None) -> None:
        config.validate()
        self.config = config
        self.description = dict(description)
        self._wrap_file = wrap_file
        self._tf_history: deque[tuple[int, bytes]] = deque()
        self._static_tf: bytes | None = None
        self._bag: CrashSafeBag | None = None
        self._base = ""
        self._bag_index = -1
        self._bag_opened_ns = 0
        self._last_metadata_ns = 0
        self.closed_bags: list[Path] = []
        self._closed_keyframes = 0
        self.keyframes_written = 0
        self.messages_written = 0
        self.error: str | None = None

    # -- recording lifecycle ---------------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        """True between a successful ``start`` and ``stop`` (or a write failure)."""
        return self._bag is not None

    @property
    def bag_path(self) -> Path | None:
        """Directory of the bag being written."""
        return None if self._bag is None else self._bag.path

    def start(self, now_ns: int, date: str | None = None) -> Path:
        """Begin a recording (first bag ``<prefix>_<date>_0``); return its directory.

        Raise OutputDirError (nothing started) when output_dir is not writable or has too little free space."""
        if self._bag is not None:
            raise RuntimeError(f"already recording into {self._bag.path}")
        out = Path(self.config.output_dir).expanduser()
        check_output_dir(out, self.config.min_free_bytes)
        date = date or time.strftime("%Y%m%d_%H%M%S")
        base, n = f"{self.config.prefix}_{date}", 1
        while any(out.glob(f"{base}_*")):
            n += 1
            base = f"{self.config.prefix}_{date}-{n}"
        self._base, self._bag_index = base, -1
        self.closed_bags, self._closed_keyframes = [], 0
        self.keyframes_written = self.messages_written = 0
        self.error = None
        self._open_next(now_ns)
        return self._bag.path

    def stop(self) -> Path | None:
        """Close the current bag; return its directory (None if not recording)."""
        bag, self._bag = self._bag, None
        if bag is None:
            return None
        self._close(bag)
        return bag.path

    def tick(self, now_ns: int) -> None:
        """Periodic work: flush a chunk older than ``chunk_period_ns``, refresh metadata.yaml when due."""
        bag = self._bag
        if bag is None:
            return
        since = bag.pending_since_ns
        if since is not None and now_ns - since >= self.config.chunk_period_ns:
            self._guarded(bag.flush_chunk)
        if self._bag is not None and now_ns - self._last_metadata_ns >= self.config.metadata_period_ns:
            self._last_metadata_ns = now_ns
            self._guarded(bag.refresh_metadata)

    # -- inputs ----------------------------------------------------------------------------------------

    def on_tf(self, data: bytes, now_ns: int) -> None:
        """A /tf message (CDR of tf2_msgs/TFMessage) arrived: remember it and record it when recording."""
        history = self._tf_history
        history.append((now_ns, data))
        while history and history[0][0] < now_ns - self.config.tf_history_ns:
            history.popleft()
        if self._bag is not None:
            self._write_group(now_ns, [(TF_TOPIC, TF_TYPE, data, ())])

    def on_tf_static(self, received: bytes, combined: bytes, now_ns: int) -> None:
        """A /tf_static message arrived; ``combined`` holds every static transform so far (latest per child)."""
        self._static_tf = combined
        if self._bag is not None:
            self._write_group(now_ns, [(TF_STATIC_TOPIC, TF_TYPE, received, LATCHED_QOS)])

    def write_keyframe(self, record: KeyframeRecord, now_ns: int) -> dict[str, Any]:
        """Record one keyframe; return the JSON fields written to /trajectory/keyframe."""
        if self._bag is None:
            raise RuntimeError("not recording")
        stamp = int(record.stamp_ns)
        pose = pose_stamped_cdr(record.T_fixed_camera, record.fixed_frame, stamp)
        self._prepare(now_ns)
        info = {**record.fields, "index": self.keyframes_written, "stamp_ns": stamp,
                "fixed_frame": record.fixed_frame, "bag": self._bag.path.name}
        group = [(topic, IMAGE_TYPE, data, ()) for topic, data in record.images]
        group += [(record.camera_info[0], CAMERA_INFO_TYPE, record.camera_info[1], ()),
                  (POSE_TOPIC, POSE_TYPE, pose, ()),
                  (KEYFRAME_TOPIC, STRING_TYPE, string_cdr(json.dumps(info, sort_keys=True)), ())]
        self._write_group(now_ns, group, prepared=True)
        self.keyframes_written += 1
        return info

    # -- status ----------------------------------------------------------------------------------------

    @property
    def keyframes_flushed(self) -> int:
        """Keyframes of this recording that are safely on disk (closed bags and flushed chunks)."""
        current = self._bag.flushed_count(KEYFRAME_TOPIC) if self._bag is not None else 0
        return self._closed_keyframes + current

    def status(self) -> dict[str, Any]:
        """A JSON-able summary of the recording."""
        return {
            "recording": self.recording,
            "bag": str(self._bag.path) if self._bag is not None else None,
            "bag_index": self._bag_index,
            "closed_bags": [str(p) for p in self.closed_bags],
            "keyframes_written": self.keyframes_written,
            "keyframes_flushed": self.keyframes_flushed,
            "messages_written": self.messages_written,
            # keyframes reported (on ~/keyframes) but not on disk when a write error stopped the recording
            "keyframes_lost": self.keyframes_written - self.keyframes_flushed if self.error and not self.recording
            else 0,
            "error": self.error,
        }

    # -- internals -------------------------------------------------------------------------------------

    def _metadata_text(self) -> str:
        return json.dumps({**self.description, "recording": self._base, "bag_index": self._bag_index},
                          sort_keys=True)

    def _open_next(self, now_ns: int) -> None:
        self._bag_index += 1
        text = self._metadata_text()
        path = Path(self.config.output_dir).expanduser() / f"{self._base}_{self._bag_index}"
        custom = {RECORDING_KEY: text}
        if "categories" in self.description:  # what the trainer's bag reader takes the label categories from
            custom[LABEL_CATEGORIES_KEY] = json.dumps(list(self.description["categories"]))
        bag = CrashSafeBag(path, custom_data=custom, compression=self.config.compression, wrap_file=self._wrap_file)
        try:
            bag.open()
        except (OSError, WriterError) as exc:
            self.error = f"cannot create bag {path}: {exc}"
            raise BagWriteError(self.error, kept=False) from exc
        self._bag, self._bag_opened_ns, self._last_metadata_ns = bag, now_ns, now_ns
        group = [(METADATA_TOPIC, STRING_TYPE, string_cdr(text), LATCHED_QOS)]
        if self._static_tf is not None:
            group.append((TF_STATIC_TOPIC, TF_TYPE, self._static_tf, LATCHED_QOS))
        group += [(TF_TOPIC, TF_TYPE, data, ()) for t, data in self._tf_history
                  if t >= now_ns - self.config.tf_history_ns]
        self._write_group(now_ns, group, prepared=True)
        self._guarded(bag.flush_chunk)
        self._guarded(bag.refresh_metadata)

    def _close(self, bag: CrashSafeBag) -> None:
        try:
            bag.close()
        except BagWriteError as exc:
            self.error = str(exc)
            raise
        finally:
            self.closed_bags.append(bag.path)
            self._closed_keyframes += bag.count(KEYFRAME_TOPIC) if bag.state == "closed" else \
                bag.flushed_count(KEYFRAME_TOPIC)

    def _prepare(self, now_ns: int) -> None:
        """Start the next bag when the current one is full or old enough."""
        c, bag = self.config, self._bag
        too_big = c.max_bag_bytes > 0 and bag.size_bytes >= c.max_bag_bytes
        # a bag without a keyframe is of no use for training: a duration split waits for the first keyframe
        too_old = c.max_bag_duration_ns > 0 and now_ns - self._bag_opened_ns >= c.max_bag_duration_ns and \
            bag.count(KEYFRAME_TOPIC) > 0
        if too_big or too_old:
            self._bag = None
            self._close(bag)
            self._open_next(now_ns)

    def _write_group(self, now_ns: int, group: list[tuple[str, str, bytes, Sequence]], prepared: bool = False) -> None:
        if not prepared:
            self._prepare(now_ns)
        bag = self._bag
        for topic, msgtype, data, qos in group:
            self._guarded(bag.write, topic, msgtype, data, now_ns, qos)
            self.messages_written += 1

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a bag operation; on BagWriteError stop recording (the bag keeps what was flushed) and re-raise."""
        try:
            return fn(*args)
        except BagWriteError as exc:
            bag, self._bag = self._bag, None
            self.error = str(exc)
            if bag is not None:
                self.closed_bags.append(bag.path)
                self._closed_keyframes += bag.flushed_count(KEYFRAME_TOPIC)
            raise
