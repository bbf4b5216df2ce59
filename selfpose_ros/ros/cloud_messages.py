"""sensor_msgs/PointCloud2 of the fusion tracks' clouds: x, y, z (float32, metres) and track (uint32) per point.

sensor_msgs_py.point_cloud2 builds it when it imports (ROS installs); otherwise our small fallback packs the
same layout (little-endian, dense, one row), so RViz shows it either way and can colour it by ``track``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

try:
    from sensor_msgs_py import point_cloud2 as _pc2
except ImportError:  # PyPI wheels: no sensor_msgs_py
    _pc2 = None

#: The point layout: three float32 coordinates and the numeric track id.
FIELDS = [PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
          PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
          PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
          PointField(name="track", offset=12, datatype=PointField.UINT32, count=1)]
_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("track", "<u4")])


def cloud_message(points: np.ndarray, track_ids: np.ndarray, header: Any, use_library: bool | None = None
                  ) -> PointCloud2:
    """PointCloud2 of points (N, 3) in ``header.frame_id`` with one track id (N,) each."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    ids = np.asarray(track_ids, dtype=np.uint32).reshape(-1)
    if len(ids) != len(pts):
        raise ValueError(f"{len(pts)} points but {len(ids)} track ids")
    data = np.empty(len(pts), dtype=_DTYPE)
    data["x"], data["y"], data["z"], data["track"] = pts[:, 0], pts[:, 1], pts[:, 2], ids
    if (_pc2 is not None) if use_library is None else use_library:
        return _pc2.create_cloud(header, FIELDS, data.tolist())
    return PointCloud2(header=header, height=1, width=len(pts), fields=FIELDS, is_bigendian=False,
                       point_step=_DTYPE.itemsize, row_step=_DTYPE.itemsize * len(pts), data=data.tobytes(),
                       is_dense=True)


def cloud_points(msg: PointCloud2) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, 3) float32, track ids (N,)) of a message built by :func:`cloud_message`."""
    if msg.point_step != _DTYPE.itemsize or [f.name for f in msg.fields] != ["x", "y", "z", "track"]:
        raise ValueError("not a fused-cloud message (fields x, y, z, track)")
    data = np.frombuffer(bytes(msg.data), dtype=_DTYPE, count=msg.width * msg.height)
    return np.stack([data["x"], data["y"], data["z"]], axis=1), data["track"].copy()
