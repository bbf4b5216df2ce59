"""rosbag2 ``metadata.yaml`` (version 9, one MCAP file): build it from topic counts and write it atomically.

The layout matches what rosbags' Writer writes on close, so rosbags' Reader and ``ros2 bag`` read it.
Writes go to ``metadata.yaml.tmp`` first and are renamed over the old file: a crash leaves the old or the
new file, never half of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METADATA_FILE = "metadata.yaml"
#: custom_data key present while a bag is being written (removed by the final close or by repair).
INCOMPLETE_KEY = "selfpose_ros.incomplete"
#: custom_data key that repair adds: why and how the bag was repaired.
REPAIRED_KEY = "selfpose_ros.repaired"


@dataclass
class TopicCount:
    """One topic of a bag: name, type, QoS profiles (rosbag2 v9 dicts), type hash and message count."""

    name: str
    msgtype: str
    count: int
    qos: list[dict[str, Any]] = field(default_factory=list)
    type_hash: str = ""
    serialization_format: str = "cdr"


def build_metadata(file_name: str, topics: list[TopicCount], start_ns: int | None, end_ns: int | None,
                   custom_data: dict[str, str] | None, compression: str = "") -> dict[str, Any]:
    """Return the metadata.yaml document of a bag stored in the single MCAP file ``file_name``."""
    count = sum(t.count for t in topics)
    start = int(start_ns) if count and start_ns is not None else 0
    duration = max(0, int(end_ns) - start) if count and end_ns is not None else 0
    return {
        "rosbag2_bagfile_information": {
            "version": 9,
            "storage_identifier": "mcap",
            "relative_file_paths": [file_name],
            "duration": {"nanoseconds": duration},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": count,
            "topics_with_message_count": [
                {
                    "topic_metadata": {
                        "name": t.name,
                        "type": t.msgtype,
                        "serialization_format": t.serialization_format,
                        "offered_qos_profiles": t.qos,
                        "type_description_hash": t.type_hash,
                    },
                    "message_count": t.count,
                }
                for t in topics
            ],
            "compression_format": compression,
            "compression_mode": "",
            "files": [
                {
                    "path": file_name,
                    "starting_time": {"nanoseconds_since_epoch": start},
                    "duration": {"nanoseconds": duration},
                    "message_count": count,
                }
            ],
            "custom_data": dict(custom_data) if custom_data else None,
            "ros_distro": "rosbags",
        }
    }


def write_metadata(bag_dir: str | Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as ``bag_dir/metadata.yaml`` atomically (tmp file, fsync, rename); return the path."""
    path = Path(bag_dir) / METADATA_FILE
    tmp = path.with_name(METADATA_FILE + ".tmp")
    text = yaml.safe_dump(document, default_flow_style=False, sort_keys=False)
    with open(tmp, "w", encoding="utf8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_metadata(bag_dir: str | Path) -> dict[str, Any] | None:
    """Return the ``rosbag2_bagfile_information`` mapping of ``bag_dir/metadata.yaml``, or None if absent."""
    path = Path(bag_dir) / METADATA_FILE
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    info = doc.get("rosbag2_bagfile_information") if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        raise ValueError(f"{path} has no rosbag2_bagfile_information mapping")
    return info


def qos_from_channel_metadata(metadata: dict[str, str]) -> list[dict[str, Any]]:
    """The offered QoS profiles stored in an MCAP channel's metadata (rosbag2 convention), as v9 dicts."""
    text = metadata.get("offered_qos_profiles", "")
    if not text.strip():
        return []
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    return value if isinstance(value, list) else []
