"""A rosbags type store that knows ROS 2 Kilted's messages plus ours (selfpose_ros, vision_msgs, tf2_msgs)."""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg
from rosbags.typesys import get_typestore as _rosbags_typestore
from rosbags.typesys.store import Typestore

_REPO = Path(__file__).resolve().parents[2]
_VISION_MSGS = _REPO / "tools" / "interfaces" / "vision_msgs" / "msg"

#: Our message types, by ROS type name.
OBJECT_POSE = "selfpose_ros/msg/ObjectPose"
OBJECT_POSE_ARRAY = "selfpose_ros/msg/ObjectPoseArray"


def _find_msg_dir(source: Path, package_data: str, share_package: str, probe: str) -> Path | None:
    """Return the first directory holding ``probe``: source tree, pip package data, then ROS share dirs."""
    candidates = [source]
    try:
        candidates.append(Path(str(resources.files(package_data))))
    except (ModuleNotFoundError, TypeError):
        pass
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / share_package / "msg")
    return next((p for p in candidates if (p / probe).is_file()), None)


def msg_definition_dir() -> Path:
    """Return the directory holding selfpose_ros's .msg files (source tree, pip install, or ROS share)."""
    found = _find_msg_dir(_REPO / "msg", "selfpose_ros.msg_defs", "selfpose_ros", "ObjectPose.msg")
    if found is None:
        raise FileNotFoundError("selfpose_ros message definitions (ObjectPose.msg) not found")
    return found


def _types_from_dir(package: str, directory: Path) -> dict:
    types: dict = {}
    for path in sorted(directory.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
    return types


def split_msgdef(text: str) -> dict[str, str]:
    """The message definitions of a concatenated ``.msg`` text (rosbag2/MCAP schema): {type name: text}.

    The first section belongs to the connection's own type (``None`` key); each later one starts with
    ``MSG: pkg/Name`` after a line of ``=``."""
    out: dict = {}
    name = None
    lines: list[str] = []
    for line in text.splitlines() + ["=" * 8]:
        if line.startswith("=" * 8):
            out[name] = "\n".join(lines)
            name, lines = None, []
        elif line.startswith("MSG: ") and not lines:
            name = line[5:].strip()
        else:
            lines.append(line)
    return out


def _full_name(name: str) -> str:
    """'pkg/Name' -> 'pkg/msg/Name' (names already holding '/msg/' are kept)."""
    return name if "/msg/" in name else name.replace("/", "/msg/", 1)


def typestore_for(reader) -> Typestore:
    """The store to read a bag with: the shared one, or, for a bag recorded with older selfpose_ros message
    definitions (fewer ObjectPose fields), a store that knows the bag's own definitions of our types."""
    store = get_typestore()
    recorded: dict[str, str] = {}
    for conn in reader.connections:
        data = getattr(getattr(conn, "msgdef", None), "data", "") or ""
        if not conn.msgtype.startswith("selfpose_ros/") or not data:
            continue
        for name, text in split_msgdef(data).items():
            full = conn.msgtype if name is None else _full_name(name)
            if full.startswith("selfpose_ros/"):
                recorded[full] = text
    changed = {}
    for full, text in recorded.items():
        types = get_types_from_msg(text, full)
        if types[full][1] != store.fielddefs.get(full, (None, None))[1]:
            changed.update(types)
    return _store_with(tuple(sorted((k, repr(v)) for k, v in changed.items())), changed) if changed else store


_custom_stores: dict = {}


def _store_with(key: tuple, types: dict) -> Typestore:
    """A store like :func:`get_typestore` whose selfpose_ros types are replaced by ``types`` (cached by ``key``)."""
    if key not in _custom_stores:
        store = _rosbags_typestore(Stores.ROS2_KILTED)
        ours = _types_from_dir("selfpose_ros", msg_definition_dir())
        ours.update(types)
        vision = _find_msg_dir(_VISION_MSGS, "selfpose_ros.vision_msgs_defs", "vision_msgs", "Detection3D.msg")
        if vision is not None and "vision_msgs/msg/Detection3DArray" not in store.fielddefs:
            ours.update(_types_from_dir("vision_msgs", vision))
        store.register(ours)
        _custom_stores[key] = store
    return _custom_stores[key]


@functools.lru_cache(maxsize=1)
def get_typestore() -> Typestore:
    """Return the shared type store: ROS 2 Kilted + selfpose_ros/msg/* + vision_msgs (when its .msg files exist)."""
    store = _rosbags_typestore(Stores.ROS2_KILTED)
    types = _types_from_dir("selfpose_ros", msg_definition_dir())
    vision = _find_msg_dir(_VISION_MSGS, "selfpose_ros.vision_msgs_defs", "vision_msgs", "Detection3D.msg")
    if vision is not None and "vision_msgs/msg/Detection3DArray" not in store.fielddefs:
        types.update(_types_from_dir("vision_msgs", vision))
    store.register(types)
    return store
