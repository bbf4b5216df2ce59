"""TfListener's fallback (no tf2_ros): rolling TF storage with interpolation, and lookups of TF sent over DDS."""

import math
import threading
import time

import numpy as np
import pytest
from ros_testing import require_rclpy, spin_until

rclpy = require_rclpy()
pytestmark = pytest.mark.dds

from geometry_msgs.msg import TransformStamped  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from selfpose_ros.ros.tf_broadcast import StaticTfBroadcaster, TfBroadcaster  # noqa: E402
from selfpose_ros.ros.tf_listener import RollingTfBuffer, TfListener, TransformLookupError  # noqa: E402

SEC = 1_000_000_000


def transform(parent, child, stamp_ns, x=0.0, yaw_deg=0.0, z=0.0):
    ts = TransformStamped()
    ts.header.frame_id, ts.child_frame_id = parent, child
    ts.header.stamp.sec, ts.header.stamp.nanosec = divmod(stamp_ns, SEC)
    ts.transform.translation.x, ts.transform.translation.z = float(x), float(z)
    half = math.radians(yaw_deg) / 2
    ts.transform.rotation.z, ts.transform.rotation.w = math.sin(half), math.cos(half)
    return ts


def yaw_of(T):
    return math.degrees(math.atan2(T[1, 0], T[0, 0]))


def test_rolling_buffer_interpolates_composes_and_forgets():
    buf = RollingTfBuffer(cache_s=2.0)
    assert buf.add_message(TFMessage(transforms=[transform("base", "cam", 0, z=0.5)]), static=True) == []
    for k in range(0, 56):  # map -> base at 10 Hz for 5.5 s: x = 0.1 k m, yaw = 2 k deg
        buf.add_message(TFMessage(transforms=[transform("map", "base", k * SEC // 10, x=0.1 * k, yaw_deg=2 * k)]),
                        static=False)
    T = buf.lookup("map", "cam", 5 * SEC + SEC // 20)  # halfway between samples 50 and 51
    assert T[0, 3] == pytest.approx(5.05) and T[2, 3] == pytest.approx(0.5) and yaw_of(T) == pytest.approx(101.0)
    np.testing.assert_allclose(buf.lookup("cam", "map", 5 * SEC) @ buf.lookup("map", "cam", 5 * SEC), np.eye(4),
                               atol=1e-12)
    np.testing.assert_array_equal(buf.lookup("/cam", "cam", 0), np.eye(4))
    buf.lookup("map", "cam", 2 * SEC)  # 3.5 s old: still held (between cache_s and 2 cache_s of history)
    with pytest.raises(TransformLookupError, match="extrapolation"):
        buf.lookup("map", "cam", int(0.5 * SEC))  # dropped when the buffers rolled
    with pytest.raises(TransformLookupError, match="extrapolation"):
        buf.lookup("map", "cam", 7 * SEC)  # the future
    with pytest.raises(TransformLookupError, match="unknown frame 'nowhere'"):
        buf.lookup("map", "nowhere", 5 * SEC)
    # a stamp far in the past (simulation restarted) starts over, static edges kept
    buf.add_message(TFMessage(transforms=[transform("map", "base", 0, x=9.0)]), static=False)
    assert buf.lookup("map", "cam", 0)[0, 3] == pytest.approx(9.0)
    errors = buf.add_message(TFMessage(transforms=[transform("odom", "base", 0)]), static=False)
    assert len(errors) == 1 and "two parents" in errors[0]


@pytest.fixture(scope="module")
def node():
    rclpy.init()
    n = rclpy.create_node("test_recorder_tf_listener")
    yield n
    n.destroy_node()
    rclpy.shutdown()


def test_listener_answers_from_tf_sent_over_dds(node):
    errors = []
    listener = TfListener(node, cache_s=5.0, use_tf2_ros=False, on_error=errors.append)
    assert listener.backend == "selfpose_ros"
    StaticTfBroadcaster(node, use_tf2_ros=False).send(transform("base_link", "camera_link", 0, z=0.3))
    dynamic = TfBroadcaster(node, use_tf2_ros=False)
    stamps = [SEC * 100 + k * SEC // 10 for k in range(5)]

    def ready():
        try:
            listener.lookup("map", "camera_link", stamps[-1])
            return True
        except TransformLookupError:
            return False

    def send_all():
        for k, s in enumerate(stamps):
            dynamic.send(transform("map", "base_link", s, x=float(k), yaw_deg=10.0 * k))
        return ready()

    assert spin_until(node, send_all, 20.0)
    T = listener.lookup("map", "camera_link", stamps[1] + SEC // 20)
    assert T[0, 3] == pytest.approx(1.5) and T[2, 3] == pytest.approx(0.3) and yaw_of(T) == pytest.approx(15.0)
    with pytest.raises(TransformLookupError):
        listener.lookup("map", "camera_link", stamps[-1] + SEC, timeout=0.05)
    assert errors == []


@pytest.mark.parametrize("threads", [1, 2])
def test_tf_arrives_while_an_image_callback_blocks_the_default_group(threads):
    """TF has its own callback group: spun by a MultiThreadedExecutor (as the recorder is),
    it is received while a long callback of the node's default group runs; one thread cannot do that."""
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from std_msgs.msg import Empty

    ctx = rclpy.Context()  # its own context: the module's node fixture holds the default one
    rclpy.init(context=ctx)
    try:
        node = rclpy.create_node(f"tf_thread_node_{threads}", context=ctx)
        sender = rclpy.create_node(f"tf_thread_sender_{threads}", context=ctx)
        listener = TfListener(node, use_tf2_ros=False)
        assert listener.callback_group is not node.default_callback_group
        blocking, seen = [], []

        def heavy(msg):  # an image callback that takes long (a big frame on a loaded machine)
            blocking.append(time.monotonic())
            try:  # what the TF thread delivered while this callback still runs
                # 5 s: a loaded 2-core CI machine once took longer than 1.5 s to deliver it on the TF thread
                seen.append(listener.lookup("map", "base_link", 7 * SEC, timeout=5.0))
            except TransformLookupError:
                seen.append(None)

        node.create_subscription(Empty, "/tf_thread_block", heavy, 10)
        trigger = sender.create_publisher(Empty, "/tf_thread_block", 10)
        tf = TfBroadcaster(sender, use_tf2_ros=False)
        executor = MultiThreadedExecutor(num_threads=threads, context=ctx) if threads > 1 else \
            SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        side = SingleThreadedExecutor(context=ctx)  # spins the sender (publishers need no spinning; discovery)
        deadline = time.monotonic() + 20.0
        while (trigger.get_subscription_count() < 1 or tf._pub.get_subscription_count() < 2) \
                and time.monotonic() < deadline:
            rclpy.spin_once(sender, executor=side, timeout_sec=0.05)
        trigger.publish(Empty())
        while not blocking and time.monotonic() < deadline:
            rclpy.spin_once(sender, executor=side, timeout_sec=0.01)
        tf.send([transform("map", "base_link", 7 * SEC, x=2.0)])
        while not seen and time.monotonic() < deadline:
            rclpy.spin_once(sender, executor=side, timeout_sec=0.05)
        executor.shutdown()
        spinner.join(5.0)
        assert len(seen) == 1
        if threads > 1:
            assert seen[0] is not None and seen[0][0, 3] == pytest.approx(2.0)
        else:
            assert seen[0] is None  # TF waited behind the callback that waited for it
    finally:
        rclpy.shutdown(context=ctx)


def test_on_message_hears_each_message_once_and_before_lookups_see_it(node):
    """The recorder writes what on_message hands it into the bag: each /tf message exactly once (it arrives on the
    reliable and on the best-effort subscription), in order, and before a lookup could have used it."""
    heard, seen_by_lookup = [], []
    listener = None

    def on_message(msg, data, static):
        heard.append((static, [t.header.stamp.sec * SEC + t.header.stamp.nanosec for t in msg.transforms], data))
        if not static:
            try:  # the message being handed over is not in the lookup buffer yet
                listener.lookup("odom", "heard_link", heard[-1][1][0])
                seen_by_lookup.append(heard[-1][1][0])
            except TransformLookupError:
                pass

    listener = TfListener(node, use_tf2_ros=False, on_message=on_message)
    StaticTfBroadcaster(node, use_tf2_ros=False).send(transform("heard_link", "heard_cam", 0, z=0.1))
    dynamic = TfBroadcaster(node, use_tf2_ros=False)
    stamps = [SEC * 300 + k * SEC // 10 for k in range(20)]
    for k, s in enumerate(stamps):
        dynamic.send(transform("odom", "heard_link", s, x=0.1 * k))
    assert spin_until(node, lambda: len([h for h in heard if not h[0] and h[1][0] >= stamps[0]]) >= len(stamps), 20.0)
    spin_until(node, lambda: False, 0.3)  # any second copy (the other subscription) has come by now
    dynamic_heard = [h[1][0] for h in heard if not h[0] and h[1][0] >= stamps[0]]
    assert dynamic_heard == stamps  # once each, in order
    assert seen_by_lookup == []
    assert any(h[0] for h in heard)  # /tf_static too
    assert listener.lookup("odom", "heard_cam", stamps[-1])[0, 3] == pytest.approx(1.9)
