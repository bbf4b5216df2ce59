"""One rosbag2 MCAP bag written so that a crash or a full disk loses at most the last open chunk.

rosbags' Writer keeps the MCAP summary and metadata.yaml until ``close()``. This wrapper adds what a
long recording needs: the open chunk is closed and the file flushed every ``flush_chunk()`` (the recorder
calls it on a timer, and rosbags closes chunks above 1 MiB itself); ``refresh_metadata()`` rewrites
metadata.yaml atomically with the counts of the flushed data, marked incomplete; log times never go
backwards (so a repaired, unindexed file stays readable). When a write fails with OSError (ENOSPC...),
the file is cut after the last flushed chunk and closed with a footer and metadata.yaml, and
BagWriteError says so. It relies on rosbags' MCAP storage attributes ``chunks``, ``chunk``, ``bio`` and
``close_chunk``; ``open()`` checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from rosbags.interfaces import Qos
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin
from rosbags.rosbag2.metadata import dump_qos_v9

from selfpose_ros.data.typestore import get_typestore
from selfpose_ros.recording.bag_metadata import INCOMPLETE_KEY, TopicCount, build_metadata, write_metadata
from selfpose_ros.recording.mcap_scan import finalize_unindexed
from selfpose_ros.recording.writer_lock import WriterLock

COMPRESSIONS = ("none", "zstd")
WRITE_ERROR_KEY = "selfpose_ros.write_error"


class BagWriteError(RuntimeError):
    """Writing failed; ``kept`` tells whether the data flushed before the failure was closed as a valid bag."""

    def __init__(self, message: str, *, kept: bool) -> None:
        super().__init__(message)
        self.kept = kept


@dataclass
class _Topic:
    msgtype: str
    qos: list[dict[str, Any]]
    type_hash: str
    flushed: int = 0
    pending: int = 0


class CrashSafeBag:
    """A rosbag2 (version 9, MCAP) directory at ``path``; ``write`` takes CDR bytes."""

    def __init__(self, path: str | Path, *, custom_data: dict[str, str] | None = None, compression: str = "none",
                 wrap_file: Callable[[BinaryIO], BinaryIO] | None = None) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        self.path = Path(path)
        self.mcap_path = self.path / f"{self.path.name}.mcap"
        self.custom_data = dict(custom_data or {})
        self.compression = compression
        self._wrap_file = wrap_file
        self._writer: Writer | None = None
        self._connections: dict[tuple[str, str], Any] = {}
        self._topics: dict[tuple[str, str], _Topic] = {}
        self._last_t = 0
        self._flushed_range: tuple[int, int] | None = None
        self._pending_range: tuple[int, int] | None = None
        self.good_end = 0
        self.state = "new"  # new -> open -> closed | failed
        self._lock = WriterLock(self.mcap_path)  # held while open: bag-repair leaves a live bag alone

    # -- lifecycle -------------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the bag directory and the MCAP file; raise WriterError if it exists, OSError on IO errors."""
        writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        if self.compression == "zstd":
            writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        for key, value in self.custom_data.items():
            writer.set_custom_data(key, value)
        writer.open()
        storage = writer.storage
        missing = [a for a in ("chunks", "chunk", "bio", "close_chunk") if not hasattr(storage, a)]
        if missing:
            writer.abort()
            raise RuntimeError(f"this rosbags version's MCAP writer lacks {missing}; crash-safe writing needs them")
        if self._wrap_file is not None:
            storage.bio = self._wrap_file(storage.bio)
        self._writer = writer
        self.state = "open"
        self._lock.acquire()
        self._guard(self._after_flush)

    def close(self) -> None:
        """Write everything, the MCAP summary and metadata.yaml; raise BagWriteError if that fails."""
        if self.state != "open":
            return
        try:
            self._writer.close()
        except OSError as exc:
            self._fail(exc)
        finally:
            self._lock.release()
        for topic in self._topics.values():
            topic.flushed, topic.pending = topic.flushed + topic.pending, 0
        self._flushed_range = self._merge(self._flushed_range, self._pending_range)
        self._pending_range = None
        self.state = "closed"

    # -- writing ---------------------------------------------------------------------------------------

    def write(self, topic: str, msgtype: str, data: bytes, log_time_ns: int, qos: Sequence[Qos] = ()) -> int:
        """Append one message; return the log time used (never earlier than the previous one)."""
        if self.state != "open":
            raise RuntimeError(f"bag {self.path} is {self.state}, cannot write")
        t = max(int(log_time_ns), self._last_t)
        self._last_t = t
        conn = self._guard(self._connection, topic, msgtype, qos)
        storage = self._writer.storage
        chunks_before = len(storage.chunks)
        self._guard(self._writer.write, conn, t, data)
        self._topics[(topic, msgtype)].pending += 1
        self._pending_range = self._merge(self._pending_range, (t, t))
        if len(storage.chunks) != chunks_before:  # rosbags closed the chunk (it passed 1 MiB)
            self._guard(self._after_flush)
        return t

    def flush_chunk(self) -> None:
        """Close the open chunk (if it holds messages) and push it to the operating system."""
        if self.state == "open" and self.pending_messages:
            self._guard(self._writer.storage.close_chunk)
            self._guard(self._after_flush)

    def refresh_metadata(self) -> None:
        """Rewrite metadata.yaml (atomically) for the flushed data, marked incomplete."""
        if self.state != "open":
            return
        custom = {**self.custom_data, INCOMPLETE_KEY: "bag still being written or its writer died; "
                  "run `selfpose bag-repair` on it if the recorder is gone"}
        self._guard(write_metadata, self.path, self._metadata(custom))

    # -- state -----------------------------------------------------------------------------------------

    @property
    def pending_messages(self) -> int:
        """Messages in the open chunk (lost on a crash)."""
        return sum(t.pending for t in self._topics.values())

    @property
    def pending_since_ns(self) -> int | None:
        """Log time of the oldest message in the open chunk."""
        return None if self._pending_range is None else self._pending_range[0]

    @property
    def size_bytes(self) -> int:
        """Bytes written so far, the open chunk included."""
        if self.state != "open":
            return self.mcap_path.stat().st_size if self.mcap_path.exists() else 0
        return self.good_end + self._writer.storage.chunk.bio.tell()

    @property
    def start_ns(self) -> int | None:
        """Log time of the first message."""
        ranges = [r for r in (self._flushed_range, self._pending_range) if r is not None]
        return min(r[0] for r in ranges) if ranges else None

    def flushed_count(self, topic: str) -> int:
        """Messages of ``topic`` that are safely in the file (in closed chunks)."""
        return sum(t.flushed for (name, _), t in self._topics.items() if name == topic)

    def count(self, topic: str) -> int:
        """Messages of ``topic`` written so far."""
        return sum(t.flushed + t.pending for (name, _), t in self._topics.items() if name == topic)

    # -- internals -------------------------------------------------------------------------------------

    @staticmethod
    def _merge(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
        if a is None or b is None:
            return a or b
        return min(a[0], b[0]), max(a[1], b[1])

    def _connection(self, topic: str, msgtype: str, qos: Sequence[Qos]) -> Any:
        key = (topic, msgtype)
        if key not in self._connections:
            conn = self._writer.add_connection(topic, msgtype, typestore=get_typestore(),
                                               offered_qos_profiles=list(qos))
            self._connections[key] = conn
            self._topics[key] = _Topic(msgtype, dump_qos_v9(list(qos)), conn.digest)
        return self._connections[key]

    def _after_flush(self) -> None:
        bio = self._writer.storage.bio
        bio.flush()
        self.good_end = bio.tell()
        for topic in self._topics.values():
            topic.flushed, topic.pending = topic.flushed + topic.pending, 0
        self._flushed_range = self._merge(self._flushed_range, self._pending_range)
        self._pending_range = None

    def _metadata(self, custom: dict[str, str]) -> dict[str, Any]:
        topics = [TopicCount(name, t.msgtype, t.flushed, t.qos, t.type_hash) for (name, _), t in self._topics.items()]
        rng = self._flushed_range or (None, None)
        # zstd here is MCAP chunk compression: like rosbags' close, metadata.yaml names no bag-level format
        return build_metadata(self.mcap_path.name, topics, rng[0], rng[1], custom)

    def _guard(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        """Keep what was flushed as a closed bag, then raise BagWriteError."""
        self.state = "failed"
        self._lock.release()
        writer, self._writer = self._writer, None
        if writer is not None:
            storage = writer.storage
            with suppress(Exception):
                writer.abort()
            with suppress(Exception):
                if storage is not None:
                    storage.bio.close()
        kept = False
        try:
            if self.mcap_path.exists() and self.good_end > 0:
                finalize_unindexed(self.mcap_path, self.good_end)
                write_metadata(self.path, self._metadata({**self.custom_data, WRITE_ERROR_KEY: str(exc)}))
                kept = True
        except OSError:
            kept = False
        where = (f"kept as a closed bag up to the last flushed chunk ({self.good_end} bytes)" if kept else
                 "could not be closed; free space and run `selfpose bag-repair` on it")
        raise BagWriteError(f"writing {self.mcap_path} failed: {exc}; the bag was {where}", kept=kept) from exc
