"""Repair a rosbag2 MCAP bag whose writer died: keep every intact chunk, close the file, rebuild metadata.yaml.

``repair_bag(path)`` works in place and is idempotent. It cuts the MCAP file after its last intact record,
closes it with a footer (no summary section: readers scan it) and writes ``metadata.yaml`` from the
messages actually present. ``custom_data`` and type hashes of an earlier metadata.yaml (the recorder
refreshes one while recording) are kept; ``selfpose_ros.repaired`` records what was done. CLI:
``selfpose bag-repair <bag_dir>...`` (docs/recorder.md; the command is ``recording/repair.py``, also run as
``python -m selfpose_ros.recording.repair``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from selfpose_ros.recording.bag_metadata import (
    INCOMPLETE_KEY,
    REPAIRED_KEY,
    TopicCount,
    build_metadata,
    qos_from_channel_metadata,
    read_metadata,
    write_metadata,
)
from selfpose_ros.recording.mcap_scan import McapScan, finalize_unindexed, scan_mcap


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair_bag` found and did."""

    bag: Path
    mcap: Path
    action: str  # "none" (bag was fine), "metadata" (metadata.yaml rebuilt), "truncated" (file cut and closed)
    messages: int
    chunks: int
    bytes_dropped: int
    topics: dict[str, int]
    detail: str

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"{self.bag}: {self.action}; {self.messages} messages in {self.chunks} chunks kept, "
                f"{self.bytes_dropped} bytes dropped ({self.detail})")


def _find_mcap(bag: Path) -> Path:
    files = sorted(bag.glob("*.mcap"))
    if len(files) != 1:
        raise ValueError(f"{bag}: expected exactly one .mcap file, found {[f.name for f in files]}")
    return files[0]


def _type_hash(msgtype: str, old: dict[str, str]) -> str:
    if msgtype in old:
        return old[msgtype]
    try:
        from selfpose_ros.data.typestore import get_typestore

        return get_typestore().hash_rihs01(msgtype)
    except Exception:  # a type unknown to our store: rosbag2 accepts an empty hash
        return ""


def _topics(scan: McapScan, old_hashes: dict[str, str]) -> list[TopicCount]:
    topics: dict[tuple[str, str], TopicCount] = {}
    for cid, ch in sorted(scan.channels.items()):
        key = (ch.topic, ch.schema_name)
        if key not in topics:
            topics[key] = TopicCount(ch.topic, ch.schema_name, 0, qos_from_channel_metadata(ch.metadata),
                                     _type_hash(ch.schema_name, old_hashes), ch.message_encoding or "cdr")
        topics[key].count += scan.counts.get(cid, 0)
    return list(topics.values())


def _old_info(bag: Path) -> tuple[dict[str, str], dict[str, str], bool]:
    """custom_data, type hashes and 'looks complete' of an existing metadata.yaml (empty when unusable)."""
    try:
        info = read_metadata(bag)
    except ValueError:
        return {}, {}, False
    if info is None:
        return {}, {}, False
    custom = {str(k): str(v) for k, v in (info.get("custom_data") or {}).items()}
    hashes = {}
    for item in info.get("topics_with_message_count") or []:
        meta = item.get("topic_metadata", {})
        if meta.get("type") and meta.get("type_description_hash"):
            hashes[meta["type"]] = meta["type_description_hash"]
    return custom, hashes, INCOMPLETE_KEY not in custom


def repair_bag(path: str | Path, *, dry_run: bool = False, force: bool = False) -> RepairReport:
    """Make the bag directory ``path`` readable again; raise ValueError when it holds no usable MCAP file.

    A complete bag is left alone unless ``force``: then metadata.yaml is rebuilt from the messages found.
    """
    bag = Path(path)
    if not bag.is_dir():
        raise ValueError(f"{bag} is not a bag directory")
    mcap = _find_mcap(bag)
    scan = scan_mcap(mcap)
    if not scan.log_time_ordered:
        raise ValueError(f"{mcap}: messages are not in log-time order; an unindexed repair would not be "
                         "readable (bags from trajectory_recorder always are)")
    custom, hashes, metadata_ok = _old_info(bag)
    topics = _topics(scan, hashes)
    counts = {t.name: t.count for t in topics}
    if scan.complete and metadata_ok and not force:
        return RepairReport(bag, mcap, "none", scan.message_count, scan.chunks, 0, counts, "bag is complete")
    action = "metadata" if scan.complete else "truncated"
    detail = ("metadata.yaml rebuilt" + (" (forced)" if metadata_ok else "")) if scan.complete else scan.stop_reason
    dropped = 0 if scan.complete else scan.file_size - scan.good_end
    if dry_run:
        return RepairReport(bag, mcap, action, scan.message_count, scan.chunks, dropped, counts, detail)
    if not scan.complete:
        finalize_unindexed(mcap, scan.good_end)
    custom.pop(INCOMPLETE_KEY, None)
    custom[REPAIRED_KEY] = f"{action}: {detail}; {scan.message_count} messages kept, {dropped} bytes dropped"
    write_metadata(bag, build_metadata(mcap.name, topics, scan.start_ns, scan.end_ns, custom))
    return RepairReport(bag, mcap, action, scan.message_count, scan.chunks, dropped, counts, detail)
