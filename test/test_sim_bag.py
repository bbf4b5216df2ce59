"""`selfpose sim` writes an MCAP rosbag2 that reads back with rosbags: topics, types, counts, content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from selfpose_ros.cli.main import main
from selfpose_ros.data.typestore import get_typestore
from selfpose_ros.sim.realism import realism_preset
from selfpose_ros.sim.scene import SceneConfig
from selfpose_ros.sim.simulator import SimConfig, SimScene

FRAMES = 4
ARGS = ["--frames", str(FRAMES), "--seed", "7", "--width", "128", "--height", "96", "--rate", "10",
        "--categories", "mug,bowl,can", "--objects", "2-3", "--no-progress"]
EXPECTED = {
    "/camera/color/image_raw": ("sensor_msgs/msg/Image", FRAMES),
    "/camera/depth/image_raw": ("sensor_msgs/msg/Image", FRAMES),
    "/camera/depth/image_m": ("sensor_msgs/msg/Image", FRAMES),
    "/camera/segmentation": ("sensor_msgs/msg/Image", FRAMES),
    "/camera/color/camera_info": ("sensor_msgs/msg/CameraInfo", FRAMES),
    "/camera/depth/camera_info": ("sensor_msgs/msg/CameraInfo", FRAMES),
    "/tf": ("tf2_msgs/msg/TFMessage", FRAMES),
    "/tf_static": ("tf2_msgs/msg/TFMessage", 1),
    "/ground_truth/objects": ("selfpose_ros/msg/ObjectPoseArray", FRAMES),
}


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "bag"
    assert main(["sim", "--out", str(path), "--depth-float", *ARGS]) == 0
    return path


def read_all(path: Path) -> dict[str, list]:
    store = get_typestore()
    out: dict[str, list] = {}
    with Reader(path) as reader:
        for conn, stamp, raw in reader.messages():
            out.setdefault(conn.topic, []).append((stamp, store.deserialize_cdr(raw, conn.msgtype)))
    return out


def test_bag_has_every_topic_with_its_type_and_count(bag: Path) -> None:
    assert (bag / "metadata.yaml").is_file() and len(list(bag.glob("*.mcap"))) == 1
    with Reader(bag) as reader:
        found = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
        static = next(c for c in reader.connections if c.topic == "/tf_static")
        assert static.ext.offered_qos_profiles[0].durability.name == "TRANSIENT_LOCAL"
    assert found == EXPECTED


def test_bag_content_matches_the_simulator(bag: Path) -> None:
    msgs = read_all(bag)
    sim = SimScene(SimConfig(width=128, height=96, rate_hz=10, num_frames=FRAMES, realism=realism_preset("default"),
                             scene=SceneConfig(categories=("mug", "bowl", "can"), min_objects=2, max_objects=3)),
                   seed=7)  # `selfpose sim` simulates at --realism default unless told otherwise
    frame = sim.render(2)
    rgb = msgs["/camera/color/image_raw"][2][1]
    assert (rgb.encoding, rgb.height, rgb.width, rgb.step) == ("rgb8", 96, 128, 384)
    np.testing.assert_array_equal(rgb.data.reshape(96, 128, 3), frame.rgb)
    depth = msgs["/camera/depth/image_raw"][2][1]
    assert depth.encoding == "16UC1" and depth.is_bigendian == 0
    np.testing.assert_array_equal(depth.data.view(np.uint16).reshape(96, 128), frame.depth_mm)
    depth_m = msgs["/camera/depth/image_m"][2][1]
    assert depth_m.encoding == "32FC1"
    np.testing.assert_array_equal(depth_m.data.view(np.float32).reshape(96, 128), frame.depth_m)
    seg = msgs["/camera/segmentation"][2][1]
    assert seg.encoding == "32SC1"
    np.testing.assert_array_equal(seg.data.view(np.int32).reshape(96, 128), frame.segmentation)
    info = msgs["/camera/color/camera_info"][2][1]
    np.testing.assert_allclose(info.k.reshape(3, 3), frame.K)
    assert info.distortion_model == "plumb_bob" and not info.d.any()
    gt = msgs["/ground_truth/objects"][2][1]
    assert [o.category for o in gt.objects] == [o.category for o in frame.objects]
    for msg, truth in zip(gt.objects, frame.objects, strict=True):
        assert msg.instance_id == truth.instance_id and msg.scale == pytest.approx(truth.scale)
        assert msg.confidence == pytest.approx(truth.visibility) and msg.inlier_ratio == 1.0
        assert msg.num_correspondences == 0
        assert msg.size.y == pytest.approx(truth.size[1])
        assert [msg.pose.position.x, msg.pose.position.y, msg.pose.position.z] == pytest.approx(truth.translation)


def test_one_stamp_and_frame_per_image_set(bag: Path) -> None:
    msgs = read_all(bag)
    per_frame = ["/camera/color/image_raw", "/camera/depth/image_raw", "/camera/segmentation",
                 "/camera/color/camera_info", "/ground_truth/objects"]
    for i in range(FRAMES):
        stamps = {(msgs[t][i][1].header.stamp.sec, msgs[t][i][1].header.stamp.nanosec) for t in per_frame}
        assert len(stamps) == 1
        assert {msgs[t][i][1].header.frame_id for t in per_frame} == {"camera_color_optical_frame"}
        tf = msgs["/tf"][i][1].transforms[0]
        assert (tf.header.frame_id, tf.child_frame_id) == ("map", "base_link")
        assert msgs["/tf"][i][0] == msgs["/camera/color/image_raw"][i][0]
    dt = np.diff([s for s, _ in msgs["/camera/color/image_raw"]])
    np.testing.assert_array_equal(dt, 100_000_000)  # 10 Hz
    static = msgs["/tf_static"][0][1].transforms
    assert [(t.header.frame_id, t.child_frame_id) for t in static] == [
        ("base_link", "camera_link"), ("camera_link", "camera_color_optical_frame")]


def test_same_seed_same_bytes_and_no_overwrite(bag: Path, tmp_path: Path) -> None:
    again = tmp_path / "bag"
    assert main(["sim", "--out", str(again), "--depth-float", *ARGS]) == 0
    assert (again / "bag.mcap").read_bytes() == (bag / "bag.mcap").read_bytes()
    with pytest.raises(ValueError, match="already exists"):
        main(["sim", "--out", str(again), *ARGS])


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    for bad in (["--objects", "4-2"], ["--categories", "mug,teapot"], ["--trajectory", "zigzag"],
                ["--realism", "extreme"]):
        with pytest.raises(SystemExit):
            main(["sim", "--out", str(tmp_path / "x"), *bad])


def test_several_scenes_get_one_bag_each(tmp_path: Path) -> None:
    out = tmp_path / "many"
    assert main(["sim", "--out", str(out), "--scenes", "2", "--frames", "1", "--width", "48", "--height", "32",
                 "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["scene_000", "scene_001"]
    sizes = [sum(f.stat().st_size for f in (out / n).glob("*.mcap")) for n in ("scene_000", "scene_001")]
    assert all(s > 0 for s in sizes)
