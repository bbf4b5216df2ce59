"""Image <-> numpy conversion: every encoding round-trips, padding and byte order are honoured, bad input fails."""

from types import SimpleNamespace

import numpy as np
import pytest
from ros_testing import require_rclpy

from selfpose_ros.data.image_codec import (
    ENCODINGS,
    ImageConversionError,
    image_to_numpy,
    numpy_to_image,
)


def _random_image(encoding: str, h: int = 5, w: int = 7, seed: int = 0) -> np.ndarray:
    info = ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    shape = (h, w) if info.channels == 1 else (h, w, info.channels)
    if info.dtype.kind == "f":
        return rng.normal(size=shape).astype(info.dtype)
    lim = np.iinfo(info.dtype)
    return rng.integers(lim.min, lim.max, size=shape, endpoint=True, dtype=info.dtype)


def _raw_msg(array: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> SimpleNamespace:
    """Build the message fields by hand (independently of numpy_to_image), with row padding bytes."""
    h, w = array.shape[:2]
    dt = array.dtype.newbyteorder(">" if bigendian else "<")
    rows = np.ascontiguousarray(array, dtype=dt).reshape(h, -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    return SimpleNamespace(
        height=h, width=w, encoding=encoding, is_bigendian=int(bigendian), step=padded.shape[1],
        data=padded.tobytes(),
    )


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("pad", [0, 4, 16])
@pytest.mark.parametrize("bigendian", [False, True])
def test_decode_every_encoding_with_padding_and_byte_order(encoding, pad, bigendian):
    array = _random_image(encoding)
    out = image_to_numpy(_raw_msg(array, encoding, pad=pad, bigendian=bigendian))
    assert out.dtype == ENCODINGS[encoding].dtype
    np.testing.assert_array_equal(out, array)


def test_odd_row_padding_of_byte_images():
    array = _random_image("bgr8", 3, 5)
    np.testing.assert_array_equal(image_to_numpy(_raw_msg(array, "bgr8", pad=3)), array)


def test_decode_is_zero_copy_for_native_layout():
    array = _random_image("16UC1", 4, 6)
    msg = _raw_msg(array, "16UC1", pad=4)
    buf = np.frombuffer(msg.data, np.uint8)
    out = image_to_numpy(msg)
    assert np.shares_memory(out, buf)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_encode_decode_round_trip(encoding):
    require_rclpy()
    array = _random_image(encoding, 6, 9, seed=3)
    msg = numpy_to_image(array, encoding)
    assert msg.step == 9 * ENCODINGS[encoding].channels * ENCODINGS[encoding].dtype.itemsize
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (6, 9, encoding, 0)
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_unsupported_encoding_is_a_clear_error():
    msg = _raw_msg(_random_image("rgb8"), "rgb8")
    msg.encoding = "yuv422"
    with pytest.raises(ImageConversionError, match="unsupported image encoding 'yuv422'"):
        image_to_numpy(msg)


def test_length_contradicting_height_times_step_is_an_error():
    msg = _raw_msg(_random_image("mono8"), "mono8")
    msg.data = msg.data[:-1]
    with pytest.raises(ImageConversionError, match="contradicts height"):
        image_to_numpy(msg)


def test_step_smaller_than_row_is_an_error():
    msg = _raw_msg(_random_image("32FC1"), "32FC1")
    msg.step = 4
    with pytest.raises(ImageConversionError, match="step 4 is smaller"):
        image_to_numpy(msg)


def test_encode_rejects_mismatched_dtype_and_shape():
    require_rclpy()
    with pytest.raises(ImageConversionError, match="dtype"):
        numpy_to_image(np.zeros((2, 2), np.float64), "32FC1")
    with pytest.raises(ImageConversionError, match="does not fit"):
        numpy_to_image(np.zeros((2, 2, 3), np.uint8), "mono8")
