"""Frames dropped for TF over real DDS: counted in ~/status and /diagnostics, warned about once per period (the
warnings carry stamps, the throttle keys by kind), and frames whose TF comes are kept again."""

import json
import math

import numpy as np
from ros_testing import NodeProcess, call_service, require_rclpy, spin_until

rclpy = require_rclpy()

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from geometry_msgs.msg import TransformStamped  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from selfpose_ros.data.image_codec import numpy_to_image  # noqa: E402
from selfpose_ros.geometry.rotations import matrix_to_quaternion_np  # noqa: E402
from selfpose_ros.geometry.transforms import rigid  # noqa: E402
from selfpose_ros.ros.tf_broadcast import StaticTfBroadcaster, TfBroadcaster  # noqa: E402
from selfpose_ros.sim.tf_tree import OPTICAL_FRAME, base_poses, look_at, static_chain  # noqa: E402

NS = "/drops"
SEC = 1_000_000_000
T0 = 2_000 * SEC


def _transform(parent, child, stamp, T):
    ts = TransformStamped()
    ts.header.frame_id, ts.child_frame_id = parent, child
    ts.header.stamp.sec, ts.header.stamp.nanosec = divmod(stamp, SEC)
    ts.transform.translation.x, ts.transform.translation.y, ts.transform.translation.z = (float(v) for v in T[:3, 3])
    q = matrix_to_quaternion_np(T[:3, :3])
    ts.transform.rotation.x, ts.transform.rotation.y, ts.transform.rotation.z, ts.transform.rotation.w = map(float, q)
    return ts


def test_frames_without_tf_are_counted_and_warned_once(tmp_path):
    proc = NodeProcess("selfpose_ros.ros.nodes.trajectory_recorder", "--ros-args", "-r", f"__ns:={NS}",
                       "-p", f"output_dir:={tmp_path / 'bags'}", "-p", "image_qos:=reliable", "-p", "tf_timeout:=0.3",
                       "-p", "warn_period:=60.0", "-p", "min_rotation_deg:=1.0", "-p", "max_angular_speed_deg:=90.0",
                       log_dir=tmp_path)
    rclpy.init()
    node = rclpy.create_node("test_tf_drops_camera")
    try:
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        pubs = [node.create_publisher(Image, f"{NS}/{t}", qos)
                for t in ("color/image_raw", "depth/image_raw", "segmentation")]
        info = node.create_publisher(CameraInfo, f"{NS}/color/camera_info", qos)
        tf = TfBroadcaster(node, use_tf2_ros=False)
        chain = static_chain(rigid(np.eye(3), np.array([0.1, 0.0, 0.3])))
        StaticTfBroadcaster(node, use_tf2_ros=False).send([_transform(e.parent, e.child, 0, e.matrix) for e in chain])
        diags = []
        node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diags.extend(
            s for s in m.status if s.name == "selfpose_ros: trajectory_recorder"), 10)
        status_client = node.create_client(Trigger, f"{NS}/trajectory_recorder/status")
        rgb, depth = np.zeros((24, 32, 3), np.uint8), np.full((24, 32), 600, np.uint16)
        seg = np.zeros((24, 32), np.uint16)

        def frame(k, with_tf, images=True):
            stamp = T0 + k * SEC // 20
            if with_tf:
                a = math.radians(2.0 * k)
                T = look_at([0.6 * math.cos(a), 0.6 * math.sin(a), 0.4], [0.0, 0.0, 0.0])
                tf.send(_transform("map", "base_link", stamp, base_poses(T, chain)))
            if not images:
                return
            header = Header(frame_id=OPTICAL_FRAME)
            header.stamp.sec, header.stamp.nanosec = divmod(stamp, SEC)
            for pub, (array, enc) in zip(pubs, ((rgb, "rgb8"), (depth, "16UC1"), (seg, "16UC1"))):
                pub.publish(numpy_to_image(array, enc, header))
            info.publish(CameraInfo(header=header, height=24, width=32, k=[30.0, 0, 16, 0, 30, 12, 0, 0, 1]))
            spin_until(node, lambda: False, 0.05, proc)

        def status():
            return json.loads(call_service(node, status_client, Trigger.Request, proc).message)

        assert status_client.wait_for_service(timeout_sec=60.0), proc.output()
        assert spin_until(node, lambda: all(p.get_subscription_count() for p in [*pubs, info]), 30.0, proc)
        for k in range(25):  # no camera pose for any of these frames: each carries another stamp
            frame(k, with_tf=False)
        s = {}
        assert spin_until(node, lambda: s.update(status()) or s["frames_received"] == 25 and
                          s["waiting_for_tf"] == 0, 30.0, proc), (s, proc.output())
        assert s["frames_dropped_tf"] == s["tf_unavailable"] == 25 and s["tf_drop_pct"] == 100.0
        assert s["tf_timeout_s"] == 0.3 and s["keyframes_kept"] == 0
        assert spin_until(node, lambda: any(d.values and dict((v.key, v.value) for v in d.values)
                                            .get("frames_dropped_tf") == "25" for d in diags), 10.0, proc)
        last = [d for d in diags if dict((v.key, v.value) for v in d.values).get("frames_dropped_tf") == "25"][-1]
        assert last.level == DiagnosticStatus.WARN and "100.0 % of frames dropped for TF" in last.message
        frame(24, with_tf=True, images=False)  # TF from before the next frame on (the blur check looks back)
        for k in range(25, 45):  # now with TF: kept again, nothing more dropped
            frame(k, with_tf=True)
        assert spin_until(node, lambda: s.update(status()) or s["frames_received"] == 45 and
                          s["waiting_for_tf"] == 0, 30.0, proc), (s, proc.output())
        assert s["frames_dropped_tf"] == 25 and s["keyframes_kept"] >= 2
    finally:
        node.destroy_node()
        rclpy.shutdown()
        rc = proc.stop()
    assert rc == 0
    log = proc.log_path.read_text()
    warnings = [line for line in log.splitlines() if "no camera pose" in line]
    assert len(warnings) == 1, log  # 25 warnings with 25 different stamps: one line per warn_period
    assert "within tf_timeout (0.3 s), frame dropped" in warnings[0]
