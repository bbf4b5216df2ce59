"""trajectory_recorder's ``~/status`` as a /diagnostics message (diagnostic_msgs/DiagnosticArray).

Level: ERROR when a write error stopped the recording, WARN when ``TF_DROP_WARN_PCT`` % or more of the frames
were dropped for TF (no camera pose within ``tf_timeout``), else OK.
"""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

#: Share of received frames dropped for TF above which the recorder reports WARN, percent.
TF_DROP_WARN_PCT = 2.0

#: ~/status keys published as diagnostic values, in this order.
VALUES = ("recording", "bag", "keyframes_kept", "keyframes_written", "keyframes_flushed", "keyframes_lost",
          "segments", "frames_received", "frames_dropped_tf", "tf_drop_pct", "tf_unavailable", "tf_queue_full",
          "waiting_for_tf", "tf_timeout_s", "dropped_blurred", "dropped_too_close", "error")


def recorder_diagnostics(status: dict[str, Any], hardware_id: str, stamp: Time) -> DiagnosticArray:
    """One DiagnosticStatus named ``selfpose_ros: trajectory_recorder`` built from a ~/status dict."""
    if status.get("error"):
        level, message = DiagnosticStatus.ERROR, f"recording stopped: {status['error']}"
    elif status.get("tf_drop_pct", 0.0) >= TF_DROP_WARN_PCT and status.get("frames_dropped_tf", 0) > 0:
        level, message = DiagnosticStatus.WARN, (f"{status['tf_drop_pct']} % of frames dropped for TF "
                                                 f"(no camera pose within {status.get('tf_timeout_s')} s)")
    else:
        level, message = DiagnosticStatus.OK, "recording" if status.get("recording") else "idle"
    values = [KeyValue(key=k, value=str(status[k])) for k in VALUES if k in status]
    entry = DiagnosticStatus(level=level, name="selfpose_ros: trajectory_recorder", message=message,
                             hardware_id=hardware_id, values=values)
    return DiagnosticArray(header=Header(stamp=stamp), status=[entry])
