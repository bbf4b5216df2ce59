"""The camera topic names of the package: one definition for the nodes, the simulator and the bag reader.

Names are relative to the camera's namespace (``/camera`` by default), as ROS camera drivers publish them
(REP 2002-style ``color/image_raw``); depth and segmentation are registered to the colour camera.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Colour image, depth image, segmentation (panoptic labels) and colour camera_info, relative names.
RGB = "color/image_raw"
DEPTH = "depth/image_raw"
SEGMENTATION = "segmentation"
CAMERA_INFO = "color/camera_info"
#: The four inputs of pose_estimator, in synchroniser order.
CAMERA_TOPICS = (RGB, DEPTH, SEGMENTATION, CAMERA_INFO)
#: Extra topics the simulator publishes: depth in metres (32FC1) and the depth camera's info.
DEPTH_METRES = "depth/image_m"
DEPTH_CAMERA_INFO = "depth/camera_info"
#: Absolute topics: TF, and the simulator's ground truth (never read by inference or self-supervised training).
TF = "/tf"
TF_STATIC = "/tf_static"
GROUND_TRUTH = "/ground_truth/objects"
DEFAULT_CAMERA_NAMESPACE = "/camera"


def resolve_topic(prefix: str, name: str) -> str:
    """Join a relative topic ``name`` to the namespace ``prefix``; absolute names (leading '/') stay as given."""
    if name.startswith("/"):
        return name
    return "/" + "/".join(p for p in (prefix.strip("/"), name.strip("/")) if p)


@dataclass(frozen=True)
class CameraTopics:
    """The camera's topic names under one namespace (relative names are joined to ``prefix``)."""

    prefix: str = DEFAULT_CAMERA_NAMESPACE
    rgb: str = RGB
    depth: str = DEPTH
    segmentation: str = SEGMENTATION
    camera_info: str = CAMERA_INFO
    tf: str = TF
    tf_static: str = TF_STATIC
    ground_truth: str = GROUND_TRUTH

    def full(self, name: str) -> str:
        """Resolve one topic name against the prefix."""
        return resolve_topic(self.prefix, name)
