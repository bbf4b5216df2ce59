"""Fusion's outputs and settings: parameters, `selfpose predict --fuse`, the fused cloud message, and bags
recorded with the older ObjectPose (before its fusion fields) staying readable."""

import dataclasses
import json

import numpy as np
import pytest
from builders import simulated_bag
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from selfpose_ros.cli.main import main as selfpose_main
from selfpose_ros.data.typestore import msg_definition_dir
from selfpose_ros.eval.io_bag import load_gt_from_bag
from selfpose_ros.eval.io_jsonl import read_predictions
from selfpose_ros.ros.params import PoseEstimatorParams

OLD_OBJECT_POSE = "\n".join(line for line in (msg_definition_dir() / "ObjectPose.msg").read_text().splitlines()
                            if not line.startswith(("bool fused", "uint32 fused_views", "float32 view_span")))


def test_fusion_parameters_are_validated_with_the_others():
    p = PoseEstimatorParams(fusion_frame="map")
    p.validate()
    config = p.fusion_config()
    assert config.enabled and config.frame == "map" and config.gate == p.track_gate
    assert not PoseEstimatorParams().fusion_config().enabled
    bad = dataclasses.replace(p, fusion_voxel_size=0.0, fusion_max_points=10, fusion_refit_period=0,
                              fusion_motion_threshold=-1.0, fusion_frame="my map")
    with pytest.raises(ValueError) as err:
        bad.validate()
    for name in ("fusion_voxel_size", "fusion_max_points", "fusion_refit_period", "fusion_motion_threshold",
                 "fusion_frame"):
        assert name in str(err.value)


def test_every_fusion_parameter_is_in_the_parameter_file_and_the_docs():
    from ros_testing import REPO

    yaml_text = (REPO / "config" / "pose.yaml").read_text()
    docs = (REPO / "docs" / "pose_estimator.md").read_text()
    for f in dataclasses.fields(PoseEstimatorParams):
        documented_here = ("publish_fused_cloud", "publish_per_frame_objects")
        if f.name.startswith(("fusion_", "ego_bias_")) or f.name in documented_here:
            assert f"    {f.name}:" in yaml_text and f"`{f.name}`" in docs, f.name


@pytest.mark.slow
def test_predict_fuse_writes_fused_records_from_the_bags_tf(tmp_path, capsys):
    bag = simulated_bag(tmp_path / "bag", ("bowl", "can"), frames=6, seed=3, width=240, height=180,
                        extra=["--rate", "3", "--realism", "none"])
    out = tmp_path / "fused.jsonl"
    assert selfpose_main(["predict", "--model", "prior_fit", "--bag", str(bag), "--out", str(out), "--fuse",
                          "--fusion-frame", "map", "--min-inliers", "15"]) == 0
    assert "fused over several views" in capsys.readouterr().out
    records = read_predictions(out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert all({"fused", "fused_views", "view_span_deg"} <= set(line) for line in lines)
    by_object: dict = {}
    for r in records:
        by_object.setdefault((r.category, r.instance), []).append(r)
    assert len(by_object) >= 2
    for recs in by_object.values():
        recs.sort(key=lambda r: r.frame)
        assert [r.fused_views for r in recs] == list(range(1, len(recs) + 1))
        assert not recs[0].fused and all(r.fused for r in recs[1:])
        assert recs[-1].view_span_deg > recs[1].view_span_deg >= 0.0
    plain = tmp_path / "plain.jsonl"
    assert selfpose_main(["predict", "--model", "prior_fit", "--bag", str(bag), "--out", str(plain),
                          "--min-inliers", "15"]) == 0
    assert all("fused" not in json.loads(x) for x in plain.read_text().splitlines())
    assert selfpose_main(["predict", "--model", "prior_fit", "--bag", str(bag), "--out", str(plain), "--fuse",
                          "--fusion-frame", "odom", "--min-inliers", "15", "--max-frames", "2"]) == 0
    assert "no_fusion_pose" in capsys.readouterr().out  # no such frame in the bag: said, and nothing fused


def test_a_bag_recorded_with_the_older_object_pose_still_reads(tmp_path):
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg(OLD_OBJECT_POSE, "selfpose_ros/msg/ObjectPose"))
    store.register(get_types_from_msg("std_msgs/Header header\nselfpose_ros/ObjectPose[] objects",
                                      "selfpose_ros/msg/ObjectPoseArray"))
    T = store.types
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=3, nanosec=5), frame_id="cam")
    pose = T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=0.1, y=0.0, z=0.6),
                                       orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
    objects = [T["selfpose_ros/msg/ObjectPose"](header=header, category=c, instance_id=i, pose=pose,
                                                 size=T["geometry_msgs/msg/Vector3"](x=0.1, y=0.1, z=0.1), scale=0.2,
                                                 confidence=0.7, inlier_ratio=1.0, num_correspondences=0)
               for c, i in (("mug", 1), ("bowl", 2))]
    msg = T["selfpose_ros/msg/ObjectPoseArray"](header=header, objects=objects)
    with Writer(tmp_path / "old", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/ground_truth/objects", "selfpose_ros/msg/ObjectPoseArray", typestore=store)
        writer.write(conn, 3_000_000_005, store.serialize_cdr(msg, "selfpose_ros/msg/ObjectPoseArray"))
    records = load_gt_from_bag(tmp_path / "old")
    assert [(r.category, r.instance) for r in records] == [("mug", 1), ("bowl", 2)]
    assert records[1].visibility == pytest.approx(0.7) and np.allclose(records[1].t, [0.1, 0.0, 0.6])


def test_fused_cloud_message_round_trips_with_and_without_the_library():
    pytest.importorskip("rclpy")
    from std_msgs.msg import Header

    from selfpose_ros.ros.cloud_messages import _pc2, cloud_message, cloud_points

    pts = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    ids = np.repeat([3, 7], 25)
    for use in (False, True) if _pc2 is not None else (False,):
        msg = cloud_message(pts, ids, Header(frame_id="map"), use_library=use)
        assert msg.width == 50 and msg.header.frame_id == "map" and msg.point_step == 16
        back, back_ids = cloud_points(msg)
        np.testing.assert_array_equal(back, pts)
        np.testing.assert_array_equal(back_ids, ids)
    with pytest.raises(ValueError, match="50 points but 3 track ids"):
        cloud_message(pts, ids[:3], Header())
