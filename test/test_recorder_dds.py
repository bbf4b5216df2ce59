"""trajectory_recorder over real DDS: this process plays a camera on a scripted path, the node runs in its own.

The path (frames 50 ms apart, yaw 1.8 deg per frame about an orbit centre) has a fast stretch (blurred), a 2 s
gap and a 1 m jump, so the keyframes, drops and segments follow from the thresholds (derivation below and in
test_recorder_keyframes.py). Then: SIGINT loses nothing, SIGKILL leaves a repairable bag, services + SIGTERM
+ duration splits, and invalid parameters.
"""

import json
import math
import signal
from pathlib import Path

import numpy as np
import pytest
import yaml
from ros_testing import NodeProcess, call_service, require_rclpy, spin_until

rclpy = require_rclpy()
pytestmark = pytest.mark.dds

from geometry_msgs.msg import TransformStamped  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from rosbags.rosbag2 import Reader  # noqa: E402
from rosbags.rosbag2.errors import ReaderError  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from selfpose_ros.data.bag_reader import LABEL_CATEGORIES_KEY  # noqa: E402
from selfpose_ros.data.image_codec import numpy_to_image  # noqa: E402
from selfpose_ros.data.typestore import get_typestore  # noqa: E402
from selfpose_ros.geometry.rotations import matrix_to_quaternion_np, quaternion_to_matrix_np  # noqa: E402
from selfpose_ros.geometry.transforms import rigid  # noqa: E402
from selfpose_ros.recording.bag_metadata import INCOMPLETE_KEY, REPAIRED_KEY  # noqa: E402
from selfpose_ros.recording.bag_repair import repair_bag  # noqa: E402
from selfpose_ros.recording.recorder import RECORDING_KEY  # noqa: E402
from selfpose_ros.ros.tf_broadcast import StaticTfBroadcaster, TfBroadcaster  # noqa: E402
from selfpose_ros.sim.tf_tree import OPTICAL_FRAME, base_poses, look_at, static_chain  # noqa: E402

NODE = "selfpose_ros.ros.nodes.trajectory_recorder"
SEC = 1_000_000_000
T0 = 1_000 * SEC
IMAGES = ("color/image_raw", "depth/image_raw", "segmentation")
GATE = ["min_translation:=0.5", "min_rotation_deg:=5.0", "max_linear_speed:=5.0", "max_angular_speed_deg:=90.0",
        "blur_dt:=0.02", "max_gap:=1.0", "jump_translation:=0.8", "jump_rotation_deg:=30.0"]
# frame k turns STEP[k] deg since frame k - 1; frames 30..32 turn 144 deg/s (> 90: blurred)
STEP = [1.8] * 30 + [7.2] * 3 + [1.8] * 37
EXPECTED = list(range(0, 28, 3)) + [33, 36, 39, 42] + [45, 48, 51, 54] + [58, 61, 64, 67]
STORE = get_typestore()


def scripted_path():
    """(stamp_ns, T_map_optical) of TF samples -2, -1 and frames 0..69: a 2 s gap before 45, a 1 m jump at 57."""
    angle, out = -2 * 1.8, []
    for k in range(-2, 70):
        angle += STEP[k] if k >= 0 else 1.8
        stamp = T0 + k * SEC // 20 + (2 * SEC if k >= 45 else 0)
        centre = np.array([1.0 if k >= 57 else 0.0, 0.0, 0.0])
        a = math.radians(angle)
        out.append((stamp, look_at(centre + [0.6 * math.cos(a), 0.6 * math.sin(a), 0.4], centre)))
    return out


class SimCamera:
    """Publishes colour, depth, segmentation, camera_info (reliable) and TF map -> base_link -> camera chain."""

    def __init__(self, node, ns: str) -> None:
        qos = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        self.images = [node.create_publisher(Image, f"{ns}/{t}", qos) for t in IMAGES]
        self.info = node.create_publisher(CameraInfo, f"{ns}/color/camera_info", qos)
        self.tf = TfBroadcaster(node, use_tf2_ros=False)
        self.chain = static_chain(rigid(np.eye(3), np.array([0.1, 0.0, 0.3])))
        StaticTfBroadcaster(node, use_tf2_ros=False).send([_transform(e.parent, e.child, 0, e.matrix)
                                                           for e in self.chain])
        rng = np.random.default_rng(0)
        self.rgb = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        self.depth = np.full((48, 64), 600, np.uint16)
        self.seg = np.zeros((48, 64), np.uint16)
        self.seg[10:30, 20:40] = 6001

    def publish_tf(self, stamp: int, T_map_optical: np.ndarray) -> None:
        self.tf.send(_transform("map", "base_link", stamp, base_poses(T_map_optical, self.chain)))

    def publish_frame(self, stamp: int) -> None:
        header = Header(frame_id=OPTICAL_FRAME)
        header.stamp.sec, header.stamp.nanosec = divmod(stamp, SEC)
        for pub, (array, enc) in zip(self.images, ((self.rgb, "rgb8"), (self.depth, "16UC1"), (self.seg, "16UC1"))):
            pub.publish(numpy_to_image(array, enc, header))
        self.info.publish(CameraInfo(header=header, height=48, width=64, k=[50.0, 0, 32, 0, 50, 24, 0, 0, 1]))

    def subscribed(self, n_tf: int) -> bool:
        return all(p.get_subscription_count() >= 1 for p in [*self.images, self.info]) and \
            self.tf._pub.get_subscription_count() >= n_tf


def _transform(parent, child, stamp, T):
    ts = TransformStamped()
    ts.header.frame_id, ts.child_frame_id = parent, child
    ts.header.stamp.sec, ts.header.stamp.nanosec = divmod(stamp, SEC)
    ts.transform.translation.x, ts.transform.translation.y, ts.transform.translation.z = (float(v) for v in T[:3, 3])
    q = matrix_to_quaternion_np(T[:3, :3])
    ts.transform.rotation.x, ts.transform.rotation.y, ts.transform.rotation.z, ts.transform.rotation.w = map(float, q)
    return ts


def call(node, client, proc, timeout=20.0):
    """Ask a start/stop service once (asking again could start or stop twice)."""
    return call_service(node, client, Trigger.Request, proc, timeout, attempts=1)


_STATUS_CLIENTS = {}


def status(node, ns, proc):
    """The recorder's status, asked through one client per node and namespace (a fresh client per call races)."""
    key = (id(node), ns)
    if key not in _STATUS_CLIENTS:
        _STATUS_CLIENTS[key] = node.create_client(Trigger, f"{ns}/trajectory_recorder/status")
    return json.loads(call_service(node, _STATUS_CLIENTS[key], Trigger.Request, proc, 10.0).message)


def read_bag(path):
    with Reader(path) as reader:
        return [(c.topic, c.msgtype, STORE.deserialize_cdr(raw, c.msgtype)) for c, _, raw in reader.messages()]


def stamp_ns(msg):
    return msg.header.stamp.sec * SEC + msg.header.stamp.nanosec


@pytest.fixture(scope="module")
def node():
    rclpy.init()
    n = rclpy.create_node("test_recorder_camera")
    yield n
    n.destroy_node()
    rclpy.shutdown()


def start_recorder(tmp_path, ns, *params):
    args = ["--ros-args", "-r", f"__ns:={ns}", "-p", f"output_dir:={tmp_path / 'bags'}",  # image_qos: reliable
            "-p", "categories:=[mug]", "-p", "tf_timeout:=1.0"]
    for p in [*GATE, *params]:
        args += ["-p", p]
    return NodeProcess(NODE, *args, log_dir=tmp_path, name=f"recorder{ns.replace('/', '_')}")


@pytest.fixture(scope="module")
def gated_run(node, tmp_path_factory):
    """Play the scripted path to a recorder in /cam, then stop it with SIGINT."""
    tmp = tmp_path_factory.mktemp("gated")
    proc = start_recorder(tmp, "/cam", "chunk_period_s:=0.2")
    cam, live = SimCamera(node, "/cam"), []
    node.create_subscription(String, "/cam/trajectory_recorder/keyframes", lambda m: live.append(json.loads(m.data)),
                             QoSProfile(depth=100))
    assert spin_until(node, lambda: cam.subscribed(2), 30.0, proc), proc.output()
    assert status(node, "/cam", proc)["recording"]
    path = scripted_path()
    for k, (stamp, T) in enumerate(path):
        cam.publish_tf(stamp, T)
        if k >= 2:
            cam.publish_frame(stamp)
        spin_until(node, lambda: False, 0.02)
    final = {}

    def done():
        final.update(status(node, "/cam", proc))
        return final["frames_received"] == 70 and final["waiting_for_tf"] == 0 and len(live) >= 22

    assert spin_until(node, done, 30.0, proc), (final, proc.output())
    spin_until(node, lambda: False, 0.3)
    rc = proc.stop(signal.SIGINT)
    log = proc.log_path.read_text()
    assert rc == 0, log
    return {"status": final, "live": live, "bag": final["bag"], "path": path[2:], "log": log}


def test_gated_recording_keeps_the_expected_keyframes(gated_run):
    msgs = read_bag(gated_run["bag"])
    stamps = [s for s, _ in gated_run["path"]]
    kfs = [json.loads(m.data) for t, _, m in msgs if t == "/trajectory/keyframe"]
    assert [stamps.index(kf["stamp_ns"]) for kf in kfs] == EXPECTED
    assert [kf["segment"] for kf in kfs] == [0] * 14 + [1] * 4 + [2] * 4
    reasons = [kf["reason"] for kf in kfs]
    assert reasons[0] == "first" and reasons[14] == "gap" and reasons[18] == "jump"
    assert set(reasons) - {"first", "gap", "jump"} == {"rotation"}
    spacing = [kf["rotation_deg"] for kf in kfs if kf["reason"] == "rotation"]
    assert spacing[9] == pytest.approx(27.0, abs=0.01)  # frame 33: across the blurred stretch
    assert spacing[:9] + spacing[10:] == pytest.approx([5.4] * 18, abs=0.01)
    s = gated_run["status"]
    assert (s["keyframes_kept"], s["dropped_blurred"], s["dropped_too_close"], s["segments"]) == (22, 4, 44, 3)
    assert s["tf_unavailable"] == 0 and s["tf_backend"] == "selfpose_ros"


def test_bag_holds_images_poses_tf_and_metadata(gated_run):
    bag = gated_run["bag"]
    msgs = read_bag(bag)
    counts, types = {}, {}
    for topic, msgtype, _ in msgs:
        counts[topic] = counts.get(topic, 0) + 1
        types[topic] = msgtype
    images = {f"/cam/{t}": 22 for t in IMAGES}
    assert counts == {**images, "/cam/color/camera_info": 22, "/trajectory/camera_pose": 22,
                      "/trajectory/keyframe": 22, "/trajectory/metadata": 1, "/tf": 72, "/tf_static": 1}
    assert types["/cam/depth/image_raw"] == "sensor_msgs/msg/Image" and types["/tf"] == "tf2_msgs/msg/TFMessage"
    assert types["/trajectory/camera_pose"] == "geometry_msgs/msg/PoseStamped"
    truth = dict(gated_run["path"])
    for _, _, p in (m for m in msgs if m[0] == "/trajectory/camera_pose"):
        q, x = p.pose.orientation, p.pose.position
        T = rigid(quaternion_to_matrix_np(np.array([q.x, q.y, q.z, q.w])), np.array([x.x, x.y, x.z]))
        np.testing.assert_allclose(T, truth[stamp_ns(p)], atol=1e-6)
        assert p.header.frame_id == "map"
    depth = next(m for t, _, m in msgs if t == "/cam/depth/image_raw")
    assert (depth.encoding, depth.width, depth.height, depth.header.frame_id) == ("16UC1", 64, 48, OPTICAL_FRAME)
    static = next(m for t, _, m in msgs if t == "/tf_static")
    assert {ts.child_frame_id for ts in static.transforms} == {"camera_link", OPTICAL_FRAME}
    meta = json.loads(next(m for t, _, m in msgs if t == "/trajectory/metadata").data)
    assert meta["categories"] == ["mug"] and meta["gate"]["min_rotation_deg"] == 5.0
    assert meta["image_topics"] == list(images) and meta["fixed_frame"] == "map"
    custom = yaml.safe_load(open(f"{bag}/metadata.yaml"))["rosbag2_bagfile_information"]["custom_data"]
    assert json.loads(custom[RECORDING_KEY]) == meta and INCOMPLETE_KEY not in custom
    assert json.loads(custom[LABEL_CATEGORIES_KEY]) == ["mug"]  # what the trainer's reader uses


def test_sigint_loses_no_reported_keyframe(gated_run):
    msgs = read_bag(gated_run["bag"])  # closed by the SIGINT shutdown path: no repair needed
    in_bag = [json.loads(m.data) for t, _, m in msgs if t == "/trajectory/keyframe"]
    assert in_bag == gated_run["live"] and len(in_bag) == gated_run["status"]["keyframes_kept"] == 22
    assert repair_bag(gated_run["bag"]).action == "none"
    assert "recording stopped; 22 keyframes in 1 bag(s)" in gated_run["log"]


def test_sigkill_leaves_a_bag_readable_up_to_its_last_chunk(node, tmp_path):
    proc = start_recorder(tmp_path, "/kill", "chunk_period_s:=0.2", "metadata_period_s:=0.3")
    cam, live = SimCamera(node, "/kill"), []
    node.create_subscription(String, "/kill/trajectory_recorder/keyframes", lambda m: live.append(json.loads(m.data)),
                             QoSProfile(depth=100))
    assert spin_until(node, lambda: cam.subscribed(2), 30.0, proc), proc.output()
    flushed, bag, k, extra = 0, None, -2, None
    # keep recording beyond the flushed part until a keyframe past it was seen live (however late a loaded
    # machine makes it), then kill
    while extra is None or k < extra or len(live) <= flushed:
        stamp = T0 + k * SEC // 20
        a = math.radians(1.8 * k)
        cam.publish_tf(stamp, look_at([0.6 * math.cos(a), 0.6 * math.sin(a), 0.4], [0.0, 0.0, 0.0]))
        if k >= 0:
            cam.publish_frame(stamp)
        spin_until(node, lambda: False, 0.02, proc)
        if k % 10 == 9 and extra is None:
            s = status(node, "/kill", proc)
            flushed, bag = s["keyframes_flushed"], s["bag"]
            if flushed >= 4:
                extra = k + 10
        k += 1
        assert k < 600, proc.output()
    proc.stop(signal.SIGKILL)
    spin_until(node, lambda: False, 0.5)
    with pytest.raises(ReaderError):
        Reader(bag).open()  # no footer: unreadable until repaired
    report = repair_bag(bag)
    assert report.action == "truncated", report
    msgs = read_bag(bag)
    in_bag = [json.loads(m.data) for t, _, m in msgs if t == "/trajectory/keyframe"]
    assert len(live) > flushed  # killed while recording beyond what was on disk at the last status
    assert len(in_bag) >= flushed and in_bag == live[: len(in_bag)]
    for kf in in_bag:  # a keyframe message in the bag implies its images, camera_info and pose
        topics = {t for t, _, m in msgs if hasattr(m, "header") and stamp_ns(m) == kf["stamp_ns"]}
        assert topics >= {*(f"/kill/{t}" for t in IMAGES), "/kill/color/camera_info", "/trajectory/camera_pose"}
    custom = yaml.safe_load(open(f"{bag}/metadata.yaml"))["rosbag2_bagfile_information"]["custom_data"]
    assert json.loads(custom[RECORDING_KEY])["categories"] == ["mug"] and REPAIRED_KEY in custom


def test_services_sigterm_and_duration_splits(node, tmp_path):
    proc = start_recorder(tmp_path, "/svc", "autostart:=false", "max_bag_duration_s:=0.6")
    cam = SimCamera(node, "/svc")
    clients = {n: node.create_client(Trigger, f"/svc/trajectory_recorder/{n}") for n in ("start", "stop")}
    assert spin_until(node, lambda: cam.subscribed(2), 30.0, proc), proc.output()
    assert not status(node, "/svc", proc)["recording"]
    assert call(node, clients["stop"], proc).message == "not recording"

    def record(frames, first):
        received = status(node, "/svc", proc)["frames_received"]  # counted over the node's life
        start = call(node, clients["start"], proc)
        assert start.success, start.message
        assert not call(node, clients["start"], proc).success  # already recording
        for k in range(first - 2, first + frames):
            stamp = T0 + k * SEC // 20
            a = math.radians(1.8 * k)
            cam.publish_tf(stamp, look_at([0.6 * math.cos(a), 0.6 * math.sin(a), 0.4], [0.0, 0.0, 0.0]))
            if k >= first:
                cam.publish_frame(stamp)
            spin_until(node, lambda: False, 0.04, proc)
        # a busy node may still hold frames in its DDS queues when none waits for TF (CI once kept 6 of ~20 when
        # stop came that early): wait until all arrived, or 20 s, and none waits for TF
        spin_until(node, lambda: status(node, "/svc", proc)["frames_received"] >= received + frames, 20.0, proc)
        assert spin_until(node, lambda: status(node, "/svc", proc)["waiting_for_tf"] == 0, 10.0, proc)
        return start.message

    first = record(60, 0)  # 60 frames over 108 deg: keyframes to spare above 10 when a busy node loses one
    s = status(node, "/svc", proc)
    stop = call(node, clients["stop"], proc)
    assert stop.success and s["recording"] and len(s["closed_bags"]) >= 1, (s, proc.output())
    bags = [*s["closed_bags"], stop.message]
    assert bags[0] == first and all(b.endswith(f"_{i}") for i, b in enumerate(bags))
    indices = []
    for b in bags:  # every split is a closed bag that starts with the metadata and the static TF
        msgs = read_bag(b)
        assert [t for t, *_ in msgs[:2]] == ["/trajectory/metadata", "/tf_static"]
        indices += [json.loads(m.data)["index"] for t, _, m in msgs if t == "/trajectory/keyframe"]
    # frames still in flight when status was read may be kept before stop: the bags hold at least those
    counters = {k: v for k, v in s.items() if not isinstance(v, (str, list))}  # first: a failure report is cut
    assert indices == list(range(len(indices))) and len(indices) >= max(10, s["keyframes_kept"]), \
        (counters, indices, s, proc.log_path.read_text()[-3000:])  # where frames went (CI: 8, then 6 of ~20)
    second = record(10, 100)
    assert second != first
    # frames still being processed when TF caught up may not be kept yet: SIGTERM once two are
    assert spin_until(node, lambda: status(node, "/svc", proc)["keyframes_kept"] >= 2, 10.0, proc), proc.output()
    assert proc.stop(signal.SIGTERM) == 0, proc.log_path.read_text()
    # the 0.6 s duration limit may split the second recording too: read all its bags (_0, _1, ...)
    base = second.rsplit("_", 1)[0]
    splits = sorted(Path(second).parent.glob(Path(base).name + "_*"), key=lambda p: int(p.name.rsplit("_", 1)[1]))
    assert splits and str(splits[0]) == second, (second, splits)
    kept = 0
    for split in splits:  # SIGTERM closed them: each readable without repair
        kept += sum(t == "/trajectory/keyframe" for t, *_ in read_bag(str(split)))
        assert repair_bag(str(split)).action == "none"
    assert kept >= 2


def test_a_best_effort_camera_is_named_with_the_fix(node, tmp_path):
    """The default image_qos is reliable (lossless for large images); a best-effort publisher cannot match it,
    and the recorder says so, naming the topic and the parameter that fixes it."""
    proc = start_recorder(tmp_path, "/be", "autostart:=false")
    pub = node.create_publisher(Image, "/be/segmentation", qos_profile_sensor_data)
    assert spin_until(node, lambda: "image_qos:=sensor_data" in proc.output(), 30.0, proc), proc.output()
    assert "'segmentation'" in proc.output() and "image_qos 'reliable'" in proc.output()
    node.destroy_publisher(pub)
    assert proc.stop(signal.SIGINT) == 0, proc.output()


def test_invalid_parameters_exit_with_a_clear_message(tmp_path):
    proc = NodeProcess(NODE, "--ros-args", "-p", "jump_translation:=0.01", "-p", "compression:=lz4",
                       log_dir=tmp_path)
    assert proc.proc.wait(timeout=60) == 2
    out = proc.output()
    assert "jump_translation (0.01) must exceed min_translation (0.05)" in out
    assert "compression must be 'none' or 'zstd', got 'lz4'" in out
    proc.stop()
