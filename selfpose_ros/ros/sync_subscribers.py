"""Subscribe to N topics and deliver approximately synchronised tuples: message_filters or our fallback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile

from selfpose_ros.data.stamps import stamp_to_ns
from selfpose_ros.ros.approx_sync import ApproximateTimeSynchronizer

try:  # the standard library on a real ROS 2 install
    import message_filters as _message_filters
except ImportError:  # PyPI wheels: no message_filters
    _message_filters = None

try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks


def incompatible_qos_warning(topic: str, image_qos: str) -> str:
    """What a node says when a publisher of ``topic`` offers a QoS its ``image_qos`` subscription cannot match."""
    return (f"a publisher of '{topic}' offers a QoS that image_qos '{image_qos}' cannot match (best-effort "
            "publishers need image_qos:=sensor_data)")


def has_message_filters() -> bool:
    """Return True when the standard message_filters package is importable."""
    return _message_filters is not None


class SyncedSubscribers:
    """One subscription per (type, topic); calls ``callback(*msgs)`` with stamp-matched messages."""

    def __init__(
        self,
        node: Node,
        topics: Sequence[tuple[type, str]],
        qos: QoSProfile,
        queue_size: int,
        slop: float,
        callback: Callable[..., Any],
        *,
        use_message_filters: bool | None = None,
        on_incompatible_qos: Callable[[str], None] | None = None,
    ) -> None:
        use_mf = has_message_filters() if use_message_filters is None else use_message_filters
        if use_mf and _message_filters is None:
            raise RuntimeError("message_filters was requested but is not importable")
        self.backend = "message_filters" if use_mf else "selfpose_ros"

        def events(name: str) -> dict[str, Any]:  # a publisher whose QoS cannot match ours: say so, by topic
            if on_incompatible_qos is None:
                return {}
            callbacks = SubscriptionEventCallbacks(incompatible_qos=lambda _info: on_incompatible_qos(name))
            return {"event_callbacks": callbacks}

        if use_mf:
            self._subs = [
                _message_filters.Subscriber(node, t, name, qos_profile=qos, **events(name)) for t, name in topics
            ]
            self._sync = _message_filters.ApproximateTimeSynchronizer(self._subs, queue_size, slop)
            self._sync.registerCallback(callback)
        else:
            self._sync = ApproximateTimeSynchronizer(len(topics), queue_size, slop, callback)
            self._subs = [
                node.create_subscription(t, name, self._feeder(i), qos, **events(name))
                for i, (t, name) in enumerate(topics)
            ]

    def _feeder(self, index: int) -> Callable[[Any], None]:
        def feed(msg: Any) -> None:
            self._sync.add(index, stamp_to_ns(msg.header.stamp), msg)

        return feed
