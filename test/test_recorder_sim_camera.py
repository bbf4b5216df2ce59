"""sim_camera -> trajectory_recorder, two processes over real DDS: the bag is consistent with its own TF."""

import json
import signal

import numpy as np
import pytest
from ros_testing import REPO, NodeProcess, call_service, require_rclpy, spin_until

rclpy = require_rclpy()
pytestmark = pytest.mark.dds

from rosbags.rosbag2 import Reader  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from selfpose_ros.conventions import CATEGORIES  # noqa: E402
from selfpose_ros.data import bag_reader  # noqa: E402
from selfpose_ros.data.tf_buffer import TfBuffer  # noqa: E402
from selfpose_ros.data.typestore import get_typestore  # noqa: E402
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np  # noqa: E402
from selfpose_ros.geometry.transforms import rigid  # noqa: E402
from selfpose_ros.recording.keyframes import relative_motion  # noqa: E402
from selfpose_ros.sim.tf_tree import OPTICAL_FRAME  # noqa: E402

SEC = 1_000_000_000


def test_recording_the_simulated_camera(tmp_path):
    sim = NodeProcess("selfpose_ros.ros.nodes.sim_camera", "--ros-args", "-r", "__ns:=/simcam",
                      "--params-file", str(REPO / "config" / "sim_camera.yaml"), "-p", "width:=96", "-p", "height:=72",
                      "-p", "rate_hz:=10.0", "-p", "frames:=60", "-p", "categories:=[mug]", "-p", "max_objects:=1",
                      "-p", "trajectory:=orbit", "-p", "seed:=5", log_dir=tmp_path)
    rec = NodeProcess("selfpose_ros.ros.nodes.trajectory_recorder", "--ros-args", "-r", "__ns:=/simcam",
                      "--params-file", str(REPO / "config" / "record.yaml"), "-p", f"output_dir:={tmp_path / 'bags'}",
                      "-p", "min_rotation_deg:=3.0", "-p", "min_translation:=0.03", log_dir=tmp_path)
    rclpy.init()
    node = rclpy.create_node("test_recorder_sim_probe")
    try:
        client = node.create_client(Trigger, "/simcam/trajectory_recorder/status")
        state = {}

        def enough():
            state.update(json.loads(call_service(node, client, Trigger.Request, rec).message))
            return state["keyframes_kept"] >= 5

        assert spin_until(node, enough, 60.0, rec), (state, sim.output(), rec.output())
    finally:
        node.destroy_node()
        rclpy.shutdown()
    assert rec.stop(signal.SIGINT) == 0
    sim.stop()
    store, tf, poses, kfs, images = get_typestore(), TfBuffer(), [], [], {}
    with Reader(state["bag"]) as reader:
        for conn, _, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if conn.topic in ("/tf", "/tf_static"):
                tf.add_tf_message(msg, static=conn.topic == "/tf_static")
            elif conn.topic == "/trajectory/camera_pose":
                poses.append(msg)
            elif conn.topic == "/trajectory/keyframe":
                kfs.append(json.loads(msg.data))
            elif conn.msgtype == "sensor_msgs/msg/Image":
                images.setdefault(conn.topic, []).append(msg.header.stamp.sec * SEC + msg.header.stamp.nanosec)
    assert len(kfs) == len(poses) >= 5
    stamps = [kf["stamp_ns"] for kf in kfs]
    assert images == {f"/simcam/{t}": stamps for t in ("color/image_raw", "depth/image_raw", "segmentation")}
    T = []
    for p, kf in zip(poses, kfs):
        q, x = p.pose.orientation, p.pose.position
        T.append(rigid(quaternion_to_matrix_np(np.array([q.x, q.y, q.z, q.w])), np.array([x.x, x.y, x.z])))
        # the recorded pose is what the bag's own TF gives at the image stamp (what a trainer will look up), for
        # every keyframe up to the last: the bag's /tf is the TF the recorder's lookups used (docs/recorder.md)
        np.testing.assert_allclose(T[-1], tf.lookup("map", OPTICAL_FRAME, kf["stamp_ns"]), atol=1e-6)
    d, r = relative_motion(np.stack(T[:-1]), np.stack(T[1:]))
    same_segment = np.array([b["segment"] == a["segment"] for a, b in zip(kfs[:-1], kfs[1:])])
    assert np.all(((d > 0.03) | (r > 3.0))[same_segment])
    # the trainer's bag reader takes it as is: label categories, synchronised frames, the pose topic
    with Reader(state["bag"]) as reader:
        assert bag_reader.label_categories(reader, None) == CATEGORIES  # config/record.yaml's list
        topics = bag_reader.BagTopics(prefix="/simcam", pose_topic="/trajectory/camera_pose")
        side = bag_reader.read_side_topics(reader, topics, supervised=False, tf_tolerance_ns=0)
        frames = list(bag_reader.iter_synced_frames(reader, topics))
    assert [f.stamp_ns for f in frames] == stamps and len(side.poses) == len(stamps)
    assert frames[0].rgb.shape == (72, 96, 3) and np.isfinite(frames[0].depth_m).any()
