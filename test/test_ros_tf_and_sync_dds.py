"""TF broadcasting and synchronised subscriptions over real DDS (two nodes, fallback implementations)."""

import numpy as np
import pytest
from ros_testing import require_rclpy

rclpy = require_rclpy()
pytestmark = pytest.mark.dds

from geometry_msgs.msg import TransformStamped  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from selfpose_ros.ros.sync_subscribers import SyncedSubscribers  # noqa: E402
from selfpose_ros.ros.tf_broadcast import TF_STATIC_QOS, StaticTfBroadcaster, TfBroadcaster  # noqa: E402


@pytest.fixture
def nodes():
    rclpy.init()
    a, b = rclpy.create_node("tf_sender"), rclpy.create_node("tf_receiver")
    ex = SingleThreadedExecutor()
    ex.add_node(a)
    ex.add_node(b)
    yield a, b, ex
    ex.shutdown()
    a.destroy_node()
    b.destroy_node()
    rclpy.shutdown()


def _spin(ex, done, timeout):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end and not done():
        ex.spin_once(timeout_sec=0.05)
    return done()


def _tf(parent, child, x):
    tf = TransformStamped()
    tf.header.frame_id, tf.child_frame_id = parent, child
    tf.transform.translation.x = x
    tf.transform.rotation.w = 1.0
    return tf


def test_static_tf_is_latched_and_accumulates(nodes):
    sender, receiver, ex = nodes
    static = StaticTfBroadcaster(sender, use_tf2_ros=False)
    static.send(_tf("base_link", "camera_link", 0.1))
    static.send(_tf("camera_link", "camera_color_optical_frame", 0.0))
    got = []
    # subscribe only after both were sent: transient-local QoS must still deliver the full tree
    receiver.create_subscription(TFMessage, "/tf_static", got.append, TF_STATIC_QOS)
    assert _spin(ex, lambda: got, 10.0)
    children = {tf.child_frame_id: tf for tf in got[-1].transforms}
    assert set(children) == {"camera_link", "camera_color_optical_frame"}
    assert children["camera_link"].transform.translation.x == pytest.approx(0.1)


def test_dynamic_tf_arrives(nodes):
    sender, receiver, ex = nodes
    tf_pub = TfBroadcaster(sender, use_tf2_ros=False)
    got = []
    receiver.create_subscription(TFMessage, "/tf", got.append, 100)

    def tick():
        tf_pub.send([_tf("map", "base_link", 1.5), _tf("camera", "mug_1", 0.3)])

    timer = sender.create_timer(0.05, tick)
    assert _spin(ex, lambda: len(got) >= 2, 10.0)
    sender.destroy_timer(timer)
    assert [t.child_frame_id for t in got[-1].transforms] == ["base_link", "mug_1"]


def test_fallback_synchroniser_matches_three_topics_over_dds(nodes):
    sender, receiver, ex = nodes
    topics = [(Image, "cam/color"), (Image, "cam/depth"), (CameraInfo, "cam/info")]
    pubs = [sender.create_publisher(t, name, qos_profile_sensor_data) for t, name in topics]
    sets = []
    sync = SyncedSubscribers(receiver, topics, qos_profile_sensor_data, queue_size=10, slop=0.005,
                             callback=lambda *m: sets.append(m), use_message_filters=False)
    assert sync.backend == "selfpose_ros"
    rng = np.random.default_rng(0)
    k = [0]

    def publish():
        stamp_ns = 1_000_000_000 + k[0] * 33_000_000
        for i, pub in enumerate(pubs):
            msg = topics[i][0]()
            jitter = int(rng.integers(0, 2_000_000)) if i else 0  # depth and info lag up to 2 ms
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns + jitter, 1_000_000_000)
            msg.header.frame_id = f"frame{k[0]}"
            pub.publish(msg)
        k[0] += 1

    timer = sender.create_timer(0.03, publish)
    assert _spin(ex, lambda: len(sets) >= 10, 20.0), f"{len(sets)} sets after {k[0]} frames"
    sender.destroy_timer(timer)
    for triple in sets:
        ids = {m.header.frame_id for m in triple}
        assert len(ids) == 1, ids  # all three from the same published frame
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in triple]
        assert max(stamps) - min(stamps) <= 5_000_000
