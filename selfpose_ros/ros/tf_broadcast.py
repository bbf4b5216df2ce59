"""TF broadcasting: tf2_ros when it imports, otherwise tf2_msgs/TFMessage on /tf and /tf_static.

The fallback matches tf2_ros: /tf uses a reliable, volatile, depth-100 QoS; /tf_static is reliable and
transient-local with depth 1, and every send republishes all static transforms seen so far (latest per
child frame), so late subscribers get the whole static tree.
"""

from __future__ import annotations

from collections.abc import Iterable

from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

try:
    import tf2_ros as _tf2_ros
except ImportError:
    _tf2_ros = None

TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
TF_STATIC_QOS = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def has_tf2_ros() -> bool:
    """Return True when the standard tf2_ros package is importable."""
    return _tf2_ros is not None


def _as_list(transforms: TransformStamped | Iterable[TransformStamped]) -> list[TransformStamped]:
    return [transforms] if isinstance(transforms, TransformStamped) else list(transforms)


class TfBroadcaster:
    """Send dynamic transforms on /tf."""

    def __init__(self, node: Node, *, use_tf2_ros: bool | None = None) -> None:
        use = has_tf2_ros() if use_tf2_ros is None else use_tf2_ros
        self.backend = "tf2_ros" if use else "selfpose_ros"
        if use:
            self._impl = _tf2_ros.TransformBroadcaster(node)
        else:
            self._pub = node.create_publisher(TFMessage, "/tf", TF_QOS)

    def send(self, transforms: TransformStamped | Iterable[TransformStamped]) -> None:
        """Publish one or several transforms."""
        items = _as_list(transforms)
        if not items:
            return
        if self.backend == "tf2_ros":
            self._impl.sendTransform(items)
        else:
            self._pub.publish(TFMessage(transforms=items))


class StaticTfBroadcaster:
    """Send static transforms on /tf_static (latched)."""

    def __init__(self, node: Node, *, use_tf2_ros: bool | None = None) -> None:
        use = has_tf2_ros() if use_tf2_ros is None else use_tf2_ros
        self.backend = "tf2_ros" if use else "selfpose_ros"
        if use:
            self._impl = _tf2_ros.StaticTransformBroadcaster(node)
        else:
            self._pub = node.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
            self._by_child: dict[str, TransformStamped] = {}

    def send(self, transforms: TransformStamped | Iterable[TransformStamped]) -> None:
        """Publish transforms, keeping every static transform sent so far."""
        items = _as_list(transforms)
        if self.backend == "tf2_ros":
            self._impl.sendTransform(items)
            return
        for tf in items:
            self._by_child[tf.child_frame_id] = tf
        self._pub.publish(TFMessage(transforms=list(self._by_child.values())))
