"""Standard outputs: vision_msgs/Detection3DArray and visualization_msgs/MarkerArray from estimates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA
from vision_msgs.msg import BoundingBox3D, Detection3D, Detection3DArray, ObjectHypothesisWithPose
from visualization_msgs.msg import Marker, MarkerArray

from selfpose_ros.inference.debug_image import box_corners, category_colour
from selfpose_ros.pose_types import ObjectPoseEstimate
from selfpose_ros.ros.pose_messages import pose_msg

_BOX_EDGES = [(0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def to_detection_array(
    estimates: Iterable[ObjectPoseEstimate], header: Any, track_ids: Sequence[str] = ()
) -> Detection3DArray:
    """Return a Detection3DArray: pose in bbox.center and results[0].pose, metric size, class and score."""
    out = Detection3DArray(header=header)
    for k, est in enumerate(estimates):
        pose = pose_msg(est.R, est.t)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = est.category
        hyp.hypothesis.score = float(est.confidence)
        hyp.pose.pose = pose
        det = Detection3D(header=header, results=[hyp], id=track_ids[k] if k < len(track_ids) else est.frame_name)
        det.bbox = BoundingBox3D(center=pose, size=Vector3(x=float(est.size[0]), y=float(est.size[1]),
                                                           z=float(est.size[2])))
        out.detections.append(det)
    return out


#: Boxes of fused estimates (multi-view fusion) are drawn in this colour; single-view ones in their category's.
FUSED_COLOUR = ColorRGBA(r=0.1, g=1.0, b=0.3, a=1.0)


def _colour(category: str, alpha: float = 1.0) -> ColorRGBA:
    r, g, b = category_colour(category)
    return ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=alpha)


class MarkerTracker:
    """Builds MarkerArrays for each frame and DELETEs the markers of objects that vanished.

    A fused estimate's box is drawn in FUSED_COLOUR and its label says from how many views and what span."""

    NAMESPACES = ("box", "axes", "label")

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._shown: set[str] = set()

    def _id(self, name: str) -> int:
        return self._ids.setdefault(name, len(self._ids))

    def build(self, estimates: Sequence[ObjectPoseEstimate], header: Any) -> MarkerArray:
        """Return this frame's markers: an oriented box, axes and a label per object, DELETE for vanished ones."""
        out = MarkerArray()
        now = set()
        for est in estimates:
            name = est.frame_name
            now.add(name)
            mid, pose = self._id(name), pose_msg(est.R, est.t)
            box = Marker(header=header, ns="box", id=mid, type=Marker.LINE_LIST, action=Marker.ADD, pose=pose)
            box.scale.x = 0.003
            box.color = FUSED_COLOUR if est.fused else _colour(est.category)
            corners = box_corners(est.size)
            box.points = [Point(x=float(corners[i][0]), y=float(corners[i][1]), z=float(corners[i][2]))
                          for edge in _BOX_EDGES for i in edge]
            axes = Marker(header=header, ns="axes", id=mid, type=Marker.LINE_LIST, action=Marker.ADD, pose=pose)
            axes.scale.x = 0.005
            length = 0.5 * float(min(est.size))
            for i, rgb in enumerate([(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]):
                tip = [0.0, 0.0, 0.0]
                tip[i] = length
                axes.points += [Point(), Point(x=tip[0], y=tip[1], z=tip[2])]
                axes.colors += [ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0)] * 2
            label = Marker(header=header, ns="label", id=mid, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                           pose=pose_msg(est.R, est.t))
            label.pose.position.y -= 0.5 * float(est.size[1]) + 0.02
            label.scale.z = 0.03
            label.color = _colour(est.category)
            label.text = f"{name} {est.confidence:.2f}"
            if est.fused:
                label.text += f" fused {est.fused_views} views {est.view_span_deg:.0f} deg"
            out.markers += [box, axes, label]
        for name in sorted(self._shown - now):
            for ns in self.NAMESPACES:
                out.markers.append(Marker(header=header, ns=ns, id=self._ids[name], action=Marker.DELETE))
        self._shown = now
        return out
