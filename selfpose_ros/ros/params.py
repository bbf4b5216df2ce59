"""Every node's parameters: declared, read and validated in this one place.

Each node has a dataclass: its fields are the ROS parameters (name, type from the default, description in
the field metadata) and its ``validate`` raises ValueError naming each bad value. ``load_params`` declares
them on a node, reads the values (from defaults, ``--params-file`` or ``-p``) and validates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from selfpose_ros.conventions import CATEGORIES

P = TypeVar("P")


def _param(default: Any, help: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class PosePublisherParams:
    """Parameters of ``pose_publisher``: publishes a fixed set of object poses (for tests, RViz and demos)."""

    frame_id: str = _param("camera_color_optical_frame", "frame the poses are expressed in")
    rate_hz: float = _param(10.0, "publication rate, Hz")
    tf_prefix: str = _param("", "prefix of each object's TF child frame <prefix><category>_<instance>")
    categories: list[str] = _param(["mug"], "category of each object")
    instances: list[int] = _param([1], "instance id of each object")
    positions: list[float] = _param([0.0, 0.0, 0.5], "x, y, z per object, metres (flattened)")
    orientations: list[float] = _param([0.0, 0.0, 0.0, 1.0], "quaternion x, y, z, w per object (flattened)")
    sizes: list[float] = _param([0.1, 0.1, 0.1], "metric box extents x, y, z per object, metres (flattened)")
    scales: list[float] = _param([0.17], "metres per canonical unit, per object")

    def validate(self) -> None:
        """Raise ValueError listing every inconsistent parameter."""
        errors = []
        n = len(self.categories)
        if not self.frame_id:
            errors.append("frame_id must not be empty")
        if not self.rate_hz > 0:
            errors.append(f"rate_hz must be > 0, got {self.rate_hz}")
        unknown = sorted(set(self.categories) - set(CATEGORIES))
        if unknown:
            errors.append(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        for name, per in (("instances", 1), ("positions", 3), ("orientations", 4), ("sizes", 3), ("scales", 1)):
            got = len(getattr(self, name))
            if got != per * n:
                errors.append(f"{name} has {got} values, expected {per} x {n} objects = {per * n}")
        if not errors:
            q = np.asarray(self.orientations, dtype=float).reshape(n, 4)
            if not np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-3):
                errors.append("orientations must be unit quaternions (x, y, z, w)")
            if np.any(np.asarray(self.sizes) <= 0) or np.any(np.asarray(self.scales) <= 0):
                errors.append("sizes and scales must be > 0")
        if errors:
            raise ValueError("invalid parameters: " + "; ".join(errors))


def load_params(node: Any, cls: type[P]) -> P:
    """Declare the fields of ``cls`` as parameters of ``node``, read and validate them, and return them."""
    from rcl_interfaces.msg import ParameterDescriptor

    values = {}
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        descriptor = ParameterDescriptor(description=f.metadata.get("help", ""))
        values[f.name] = node.declare_parameter(f.name, default, descriptor).value
    params = cls(**values)
    params.validate()
    return params
