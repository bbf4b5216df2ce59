"""sensor_msgs/Image <-> numpy without cv_bridge: the one image codec of the package, with one encoding table.

The PyPI cv-bridge is a ROS 1 copy that breaks on OpenCV 5, and ROS 2's cv_bridge is not on PyPI, so
this small module is the one conversion path on every machine: the node's camera inputs (rclpy messages),
the bag reader and the simulator (rosbags messages) all use it. It has no rclpy dependency: decoding
accepts any object with the Image fields; encoding returns the fields (``image_fields``), from which
``numpy_to_image`` builds a ``sensor_msgs.msg.Image`` and the simulator a rosbags message.
"""

from __future__ import annotations

from array import array as Array
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Encoding:
    """Pixel layout of one ROS image encoding."""

    dtype: np.dtype
    channels: int


#: Supported encodings (sensor_msgs/image_encodings.hpp names).
ENCODINGS: dict[str, Encoding] = {
    "rgb8": Encoding(np.dtype(np.uint8), 3),
    "bgr8": Encoding(np.dtype(np.uint8), 3),
    "rgba8": Encoding(np.dtype(np.uint8), 4),
    "bgra8": Encoding(np.dtype(np.uint8), 4),
    "mono8": Encoding(np.dtype(np.uint8), 1),
    "mono16": Encoding(np.dtype(np.uint16), 1),
    "8UC1": Encoding(np.dtype(np.uint8), 1),
    "16UC1": Encoding(np.dtype(np.uint16), 1),
    "32FC1": Encoding(np.dtype(np.float32), 1),
    "16SC1": Encoding(np.dtype(np.int16), 1),
    "32SC1": Encoding(np.dtype(np.int32), 1),
}

#: Colour encodings ``to_rgb`` turns into (H, W, 3) RGB.
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
#: Integer encodings a segmentation (label) image may use.
LABEL_ENCODINGS = ("16UC1", "32SC1", "16SC1", "mono16", "8UC1", "mono8")


class ImageConversionError(ValueError):
    """An image message cannot be converted: unsupported encoding or inconsistent size fields."""


def encoding_info(encoding: str) -> Encoding:
    """Return the layout of ``encoding``; raise ImageConversionError when it is not supported."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        ) from None


def image_to_numpy(msg: Any) -> np.ndarray:
    """Return the pixels of a sensor_msgs/Image as an (H, W) or (H, W, C) array in the message's encoding.

    The result is a read-only view of ``msg.data`` (no copy) when the data is in native byte order;
    big-endian data of multi-byte types is byte-swapped into a new array.
    """
    info = encoding_info(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    pixel_bytes = info.dtype.itemsize * info.channels
    if height < 0 or width < 0:
        raise ImageConversionError(f"negative image size {width}x{height}")
    if step < width * pixel_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width {width} x {pixel_bytes} bytes per pixel ({msg.encoding})"
        )
    buf = memoryview(msg.data).cast("B")
    if len(buf) != height * step:
        raise ImageConversionError(
            f"data length {len(buf)} contradicts height {height} x step {step} = {height * step}"
        )
    if step % info.dtype.itemsize:
        raise ImageConversionError(f"step {step} is not a multiple of the {info.dtype} element size")
    dtype = info.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = np.frombuffer(buf, dtype=dtype).reshape(height, step // info.dtype.itemsize)
    pixels = rows[:, : width * info.channels]  # drops row padding without copying
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    pixels = pixels.reshape(shape)
    if not dtype.isnative:
        pixels = pixels.astype(info.dtype)  # byte swap: the one case that must copy
    return pixels


def to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Return colour pixels decoded in ``encoding`` (rgb8, bgr8, rgba8, bgra8, mono8) as (H, W, 3) uint8 RGB."""
    if encoding == "rgb8":
        return pixels
    if encoding == "bgr8":
        return np.ascontiguousarray(pixels[..., ::-1])
    if encoding in ("rgba8", "bgra8"):
        rgb = pixels[..., :3]
        return np.ascontiguousarray(rgb if encoding == "rgba8" else rgb[..., ::-1])
    if encoding == "mono8":
        return np.repeat(pixels[..., None], 3, axis=2)
    raise ImageConversionError(f"colour encoding {encoding!r} is not one of {COLOUR_ENCODINGS}")


def image_fields(array: np.ndarray, encoding: str) -> dict[str, Any]:
    """Return the sensor_msgs/Image fields (no header) of ``array`` in ``encoding``: little-endian, no row padding.

    ``data`` is a flat uint8 view of a contiguous copy (or of ``array`` itself when already contiguous).
    """
    info = encoding_info(encoding)
    array = np.asarray(array)
    expected_ndim = 2 if info.channels == 1 else 3
    if array.ndim == 3 and info.channels == 1 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != expected_ndim or (info.channels > 1 and array.shape[2] != info.channels):
        raise ImageConversionError(
            f"array of shape {array.shape} does not fit encoding {encoding!r} ({info.channels} channel(s))"
        )
    if array.dtype != info.dtype:
        raise ImageConversionError(f"array dtype {array.dtype} does not match {encoding!r} ({info.dtype})")
    array = np.ascontiguousarray(array, dtype=info.dtype.newbyteorder("<"))
    return {
        "height": int(array.shape[0]),
        "width": int(array.shape[1]),
        "encoding": encoding,
        "is_bigendian": 0,
        "step": int(array.shape[1]) * info.channels * info.dtype.itemsize,
        "data": array.reshape(-1).view(np.uint8),
    }


def numpy_to_image(array: np.ndarray, encoding: str, header: Any = None) -> Any:
    """Return a sensor_msgs/Image holding ``array`` (one copy into the message buffer, no row padding)."""
    from sensor_msgs.msg import Image

    fields = image_fields(array, encoding)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.step = fields["height"], fields["width"], fields["step"]
    msg.encoding, msg.is_bigendian = encoding, 0
    data = Array("B")
    data.frombytes(memoryview(fields["data"]))  # one memcpy; the setter keeps an array('B') as is
    msg.data = data
    return msg
