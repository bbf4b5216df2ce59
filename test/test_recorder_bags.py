"""Trajectory bags without ROS: layout, splitting, a full disk (injected ENOSPC) and repair of cut-off files."""

import errno
import json
import os
import shutil

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError

from selfpose_ros.data.typestore import get_typestore
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np
from selfpose_ros.recording.bag_metadata import INCOMPLETE_KEY, REPAIRED_KEY
from selfpose_ros.recording.bag_repair import repair_bag
from selfpose_ros.recording.bag_writer import WRITE_ERROR_KEY, BagWriteError, CrashSafeBag
from selfpose_ros.recording.mcap_scan import McapFormatError
from selfpose_ros.recording.recorder import RECORDING_KEY, BagRecorder, KeyframeRecord, RecorderConfig

STORE = get_typestore()
TY = STORE.types
SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC
IMAGE_TOPICS = ("/cam/color/image_raw", "/cam/depth/image_raw")


def header(stamp_ns, frame="cam_optical"):
    sec, ns = divmod(stamp_ns, SEC)
    return TY["std_msgs/msg/Header"](stamp=TY["builtin_interfaces/msg/Time"](sec=sec, nanosec=ns), frame_id=frame)


def image_cdr(stamp_ns, rng, w=64, h=48):
    data = rng.integers(0, 255, h * w * 3, dtype=np.uint8)
    msg = TY["sensor_msgs/msg/Image"](header=header(stamp_ns), height=h, width=w, encoding="rgb8", is_bigendian=0,
                                      step=w * 3, data=data)
    return bytes(STORE.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def info_cdr(stamp_ns):
    msg = TY["sensor_msgs/msg/CameraInfo"](
        header=header(stamp_ns), height=48, width=64, distortion_model="plumb_bob", d=np.zeros(5),
        k=np.array([50.0, 0, 32, 0, 50, 24, 0, 0, 1]), r=np.eye(3).ravel(), p=np.zeros(12), binning_x=0,
        binning_y=0, roi=TY["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                                do_rectify=False))
    return bytes(STORE.serialize_cdr(msg, "sensor_msgs/msg/CameraInfo"))


def tf_cdr(stamp_ns, parent, child, x):
    ts = TY["geometry_msgs/msg/TransformStamped"](
        header=header(stamp_ns, parent), child_frame_id=child,
        transform=TY["geometry_msgs/msg/Transform"](
            translation=TY["geometry_msgs/msg/Vector3"](x=x, y=0.0, z=0.0),
            rotation=TY["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)))
    return bytes(STORE.serialize_cdr(TY["tf2_msgs/msg/TFMessage"](transforms=[ts]), "tf2_msgs/msg/TFMessage"))


def pose(k):
    a = 0.1 * k
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    T[:3, 3] = [0.5 * np.sin(a), 0.1 * k, 1.0]
    return T


def record(k, rng, stamp_ns=None):
    stamp = T0 + k * SEC // 10 if stamp_ns is None else stamp_ns
    return KeyframeRecord(stamp, "map", pose(k), [(t, image_cdr(stamp, rng)) for t in IMAGE_TOPICS],
                          ("/cam/color/camera_info", info_cdr(stamp)), {"segment": 0, "reason": "rotation"})


def read_bag(path):
    """[(topic, msgtype, log_time, message)] in file order, and the connections."""
    with Reader(path) as reader:
        conns = list(reader.connections)
        msgs = [(c.topic, c.msgtype, t, STORE.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages()]
    return msgs, conns


def keyframes(msgs):
    return [json.loads(m.data) for topic, _, _, m in msgs if topic == "/trajectory/keyframe"]


def test_recording_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    rec = BagRecorder(RecorderConfig(tmp_path), {"categories": ["mug"], "gate": {"min_rotation_deg": 5.0}})
    rec.on_tf(tf_cdr(T0 - SEC, "map", "base_link", -1.0), T0 - SEC)  # before start: history for the first bag
    bag = rec.start(T0, date="20240101_000000")
    assert bag == tmp_path / "trajectory_20240101_000000_0"
    rec.on_tf_static(tf_cdr(T0, "base_link", "cam", 0.1), tf_cdr(T0, "base_link", "cam", 0.1), T0)
    for k in range(5):
        rec.on_tf(tf_cdr(T0 + k * SEC // 10, "map", "base_link", 0.1 * k), T0 + k * SEC // 10)
        info = rec.write_keyframe(record(k, rng), T0 + k * SEC // 10 + 1000)
        assert info["index"] == k and info["bag"] == bag.name and info["segment"] == 0
    assert rec.stop() == bag and not rec.recording
    msgs, conns = read_bag(bag)
    types = {c.topic: c.msgtype for c in conns}
    assert types == {"/trajectory/metadata": "std_msgs/msg/String", "/tf_static": "tf2_msgs/msg/TFMessage",
                     "/tf": "tf2_msgs/msg/TFMessage", IMAGE_TOPICS[0]: "sensor_msgs/msg/Image",
                     IMAGE_TOPICS[1]: "sensor_msgs/msg/Image", "/cam/color/camera_info": "sensor_msgs/msg/CameraInfo",
                     "/trajectory/camera_pose": "geometry_msgs/msg/PoseStamped",
                     "/trajectory/keyframe": "std_msgs/msg/String"}
    latched = {c.topic for c in conns
               if any(q.durability.name == "TRANSIENT_LOCAL" for q in c.ext.offered_qos_profiles)}
    assert latched == {"/trajectory/metadata", "/tf_static"}
    assert msgs[0][0] == "/trajectory/metadata"
    meta = json.loads(msgs[0][3].data)
    assert meta["categories"] == ["mug"] and meta["bag_index"] == 0
    assert meta["recording"] == "trajectory_20240101_000000"
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert json.loads(info["custom_data"][RECORDING_KEY]) == meta and INCOMPLETE_KEY not in info["custom_data"]
    tf_x = [m.transforms[0].transform.translation.x for t, _, _, m in msgs if t == "/tf"]
    assert tf_x == [-1.0, 0.0, 0.1, 0.2, pytest.approx(0.3), 0.4]
    times = [t for _, _, t, _ in msgs]
    assert times == sorted(times)
    kfs = keyframes(msgs)
    assert [k["index"] for k in kfs] == list(range(5))
    # every keyframe's images, camera_info and pose come right before its marker, with its stamp
    order = [topic for topic, *_ in msgs if topic not in ("/tf", "/tf_static", "/trajectory/metadata")]
    assert order == [*IMAGE_TOPICS, "/cam/color/camera_info", "/trajectory/camera_pose", "/trajectory/keyframe"] * 5
    poses = [m for t, _, _, m in msgs if t == "/trajectory/camera_pose"]
    for k, (p, kf) in enumerate(zip(poses, kfs)):
        assert p.header.frame_id == "map" and p.header.stamp.sec * SEC + p.header.stamp.nanosec == kf["stamp_ns"]
        q = p.pose.orientation
        np.testing.assert_allclose(quaternion_to_matrix_np(np.array([q.x, q.y, q.z, q.w])), pose(k)[:3, :3], atol=1e-9)
        np.testing.assert_allclose([p.pose.position.x, p.pose.position.y, p.pose.position.z], pose(k)[:3, 3])
    assert repair_bag(bag).action == "none"


def _started(cfg: RecorderConfig) -> BagRecorder:
    """A recorder started at T0 with the static TF base_link -> cam."""
    rec = BagRecorder(cfg, {"categories": ["bowl"]})
    rec.start(T0, date="d")
    rec.on_tf_static(tf_cdr(T0, "base_link", "cam", 0.1), tf_cdr(T0, "base_link", "cam", 0.1), T0)
    return rec


def _feed(rec: BagRecorder, ks, rng) -> None:
    """Steps k (every 0.25 s): /tf, a keyframe unless ``rng`` is None, and the periodic tick."""
    for k in ks:
        now = T0 + k * SEC // 4
        rec.on_tf(tf_cdr(now, "map", "base_link", float(k)), now)
        if rng is not None:
            rec.write_keyframe(record(k, rng, now), now)
        rec.tick(now)


def _split_bags(root) -> list:
    """The bags under ``root`` in split order."""
    return sorted(root.iterdir(), key=lambda p: int(p.name.rsplit("_", 1)[1]))


@pytest.mark.parametrize("split", ["size", "duration"])
def test_split_bags_are_each_closed_and_self_contained(tmp_path, split):
    rng = np.random.default_rng(1)
    cfg = RecorderConfig(tmp_path, prefix="run", max_bag_bytes=60_000 if split == "size" else 0,
                         max_bag_duration_ns=SEC if split == "duration" else 0, tf_history_ns=SEC // 2)
    rec = _started(cfg)
    _feed(rec, range(24), rng)
    rec.stop()
    bags = _split_bags(tmp_path)
    assert [p.name for p in bags] == [f"run_d_{i}" for i in range(len(bags))] and len(bags) >= 3
    assert rec.closed_bags == bags
    indices = []
    for i, bag in enumerate(bags):
        msgs, _ = read_bag(bag)  # each bag is closed: readable without repair
        assert [t for t, *_ in msgs[:2]] == ["/trajectory/metadata", "/tf_static"]
        assert json.loads(msgs[0][3].data)["bag_index"] == i
        if i > 0:  # starts with the /tf of the last 0.5 s before it opened
            first_kf_x = next(m.transforms[0].transform.translation.x for t, _, _, m in msgs if t == "/tf")
            first_index = keyframes(msgs)[0]["index"]
            assert first_kf_x in (first_index - 2, first_index - 1)
        indices += [kf["index"] for kf in keyframes(msgs)]
        if split == "duration":
            times = [t for _, _, t, _ in msgs]
            assert times[-1] - times[0] < 2 * SEC
    assert indices == list(range(24))


def test_a_duration_split_waits_for_a_keyframe(tmp_path):
    """TF alone (the camera not started yet, or standing still) never fills a split of its own."""
    rng = np.random.default_rng(2)
    rec = _started(RecorderConfig(tmp_path, prefix="run", max_bag_duration_ns=SEC, tf_history_ns=SEC // 2))
    _feed(rec, range(12), None)  # 3 s of TF before the first image: three durations
    assert rec.closed_bags == []
    _feed(rec, range(12, 24), rng)  # then 3 s of keyframes: splits as usual
    rec.stop()
    bags = _split_bags(tmp_path)
    assert len(bags) >= 2
    counts = [len(keyframes(read_bag(b)[0])) for b in bags]
    assert all(c > 0 for c in counts) and sum(counts) == 12, counts


class FullDisk:
    """A file whose device fills up after ``limit`` bytes: the write that crosses it stores part and fails."""

    def __init__(self, f, limit):
        self.f, self.left = f, limit

    def write(self, data):
        data = memoryview(data).cast("B")
        if len(data) > self.left:
            self.f.write(data[: self.left])
            self.left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.left -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


@pytest.mark.parametrize("limit", [150_000, 400_000])
def test_full_disk_stops_and_keeps_what_was_flushed(tmp_path, limit):
    rng = np.random.default_rng(2)
    cfg = RecorderConfig(tmp_path, chunk_period_ns=SEC // 2)
    rec = BagRecorder(cfg, {"categories": ["can"]}, wrap_file=lambda f: FullDisk(f, limit))
    bag = rec.start(T0, date="full")
    flushed_before = 0
    with pytest.raises(BagWriteError) as err:
        for k in range(10_000):
            now = T0 + k * SEC // 10
            flushed_before = rec.keyframes_flushed
            rec.write_keyframe(record(k, rng, now), now)
            flushed_before = rec.keyframes_flushed
            rec.tick(now)
    assert err.value.kept and "No space left on device" in str(err.value)
    assert not rec.recording and "No space left" in rec.error and rec.closed_bags == [bag]
    assert flushed_before > 0 and rec.keyframes_flushed == flushed_before
    assert os.path.getsize(bag / f"{bag.name}.mcap") <= limit + 64  # cut back to the last flushed chunk + footer
    msgs, _ = read_bag(bag)  # readable as is, no repair needed
    kfs = keyframes(msgs)
    assert [kf["index"] for kf in kfs] == list(range(flushed_before))
    assert sum(t == IMAGE_TOPICS[1] for t, *_ in msgs) == flushed_before  # no keyframe without its images
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert "No space left" in info["custom_data"][WRITE_ERROR_KEY] and info["message_count"] == len(msgs)
    assert repair_bag(bag).action == "none"
    assert rec.start(T0 + 100 * SEC, date="full") == tmp_path / "trajectory_full-2_0"  # a new recording can start
    rec.stop()


def test_full_disk_while_closing_keeps_a_readable_bag(tmp_path):
    rng = np.random.default_rng(4)
    rec = BagRecorder(RecorderConfig(tmp_path, chunk_period_ns=100 * SEC), {"categories": []},
                      wrap_file=lambda f: FullDisk(f, 50_000))
    bag = rec.start(T0, date="close")
    for k in range(4):  # about 80 kB, all in the open chunk
        rec.write_keyframe(record(k, rng), T0 + k)
    with pytest.raises(BagWriteError, match="No space left") as err:
        rec.stop()
    assert err.value.kept and not rec.recording and rec.keyframes_flushed == 0
    msgs, _ = read_bag(bag)
    assert [t for t, *_ in msgs] == ["/trajectory/metadata"]  # what was flushed at open


def _open_bag_with_flush_points(tmp_path, compression):
    rng = np.random.default_rng(3)
    bag = CrashSafeBag(tmp_path / "live", custom_data={RECORDING_KEY: '{"x": 1}'}, compression=compression)
    bag.open()
    points = [(bag.good_end, 0)]
    for k in range(40):
        for topic in IMAGE_TOPICS:
            bag.write(topic, "sensor_msgs/msg/Image", image_cdr(T0 + k, rng, 160, 120), T0 + k)
        bag.write("/trajectory/keyframe", "std_msgs/msg/String",
                  bytes(STORE.serialize_cdr(TY["std_msgs/msg/String"](data=str(k)), "std_msgs/msg/String")), T0 + k)
        if k % 3 == 2:
            bag.flush_chunk()
        points.append((bag.good_end, bag.flushed_count("/trajectory/keyframe")))
        if k == 20:
            bag.refresh_metadata()
    return bag, sorted(set(points))


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_repair_keeps_every_complete_chunk_of_a_cut_file(tmp_path, compression):
    """A writer that dies leaves the file cut anywhere: repair keeps exactly the chunks before the cut."""
    live, points = _open_bag_with_flush_points(tmp_path, compression)
    src = live.mcap_path.read_bytes()
    assert len(points) > 8
    with pytest.raises(ReaderError):  # an unclosed bag is not readable as is
        Reader(live.path).open()
    for i, (end, flushed) in enumerate(points[1:-1]):
        next_end, next_flushed = points[i + 2]
        # cut inside the next chunk record: that chunk is lost; cut inside the small message-index records that
        # follow a complete chunk: the chunk itself is intact and kept
        cases = [(c, flushed, c - end) for c in (end, end + 1, end + 9, (end + next_end) // 2)]
        cases.append((next_end - 1, next_flushed, None))
        for cut, kept, dropped in cases:
            bag = tmp_path / f"cut_{end}_{cut}"
            bag.mkdir()
            (bag / f"{bag.name}.mcap").write_bytes(src[:cut])
            shutil.copy(live.path / "metadata.yaml", bag / "metadata.yaml")
            report = repair_bag(bag)
            assert report.action == "truncated"
            assert (report.bytes_dropped == dropped) if dropped is not None else (0 < report.bytes_dropped < 200)
            msgs, _ = read_bag(bag)
            assert [m.data for t, _, _, m in msgs if t == "/trajectory/keyframe"] == [str(k) for k in range(kept)]
            info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
            custom = info["custom_data"]
            assert custom[RECORDING_KEY] == '{"x": 1}' and INCOMPLETE_KEY not in custom and REPAIRED_KEY in custom
            assert info["message_count"] == len(msgs) == 3 * kept
            assert repair_bag(bag).action == "none"  # idempotent


def test_repair_rebuilds_lost_metadata_and_rejects_non_bags(tmp_path):
    live, _ = _open_bag_with_flush_points(tmp_path, "none")
    live.close()
    expected, _ = read_bag(live.path)
    (live.path / "metadata.yaml").unlink()
    assert repair_bag(live.path).action == "metadata"
    msgs, _ = read_bag(live.path)
    assert [(t, ty, lt) for t, ty, lt, _ in msgs] == [(t, ty, lt) for t, ty, lt, _ in expected]
    other = tmp_path / "other"
    other.mkdir()
    (other / "other.mcap").write_bytes(b"not an mcap file")
    with pytest.raises(McapFormatError, match="bad magic"):
        repair_bag(other)
    with pytest.raises(ValueError, match="expected exactly one .mcap file"):
        repair_bag(tmp_path)


def test_repair_drops_a_zero_filled_tail(tmp_path):
    """After a power loss a file can end in zero-filled blocks: they are not records and are cut off."""
    bag = CrashSafeBag(tmp_path / "zeros")
    bag.open()
    for k in range(5):
        bag.write("/s", "std_msgs/msg/String", bytes(STORE.serialize_cdr(TY["std_msgs/msg/String"](data=str(k)),
                                                                          "std_msgs/msg/String")), T0 + k)
    bag.flush_chunk()
    with open(bag.mcap_path, "ab") as f:
        f.write(bytes(4096))
    report = repair_bag(bag.path)
    assert (report.action, report.bytes_dropped, report.messages) == ("truncated", 4096, 5)
    assert "invalid record opcode 0x00" in report.detail
    msgs, _ = read_bag(bag.path)
    assert [m.data for *_, m in msgs] == ["0", "1", "2", "3", "4"]
