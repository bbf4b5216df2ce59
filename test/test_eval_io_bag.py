"""Ground truth from a real MCAP rosbag2 (/ground_truth/objects), and `selfpose eval` on it."""

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from selfpose_ros.cli.main import main
from selfpose_ros.data.typestore import OBJECT_POSE_ARRAY, get_typestore
from selfpose_ros.eval.io_bag import GT_TOPIC, load_gt_from_bag
from selfpose_ros.eval.io_jsonl import write_records
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np

Q = np.array([0.1, -0.3, 0.2, 0.9]) / np.linalg.norm([0.1, -0.3, 0.2, 0.9])


def _object(T, header, category, instance, pos, size, visibility, q=Q):
    return T["selfpose_ros/msg/ObjectPose"](
        header=header, category=category, instance_id=instance,
        pose=T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=pos[0], y=pos[1], z=pos[2]),
                                        orientation=T["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3])),
        size=T["geometry_msgs/msg/Vector3"](x=size[0], y=size[1], z=size[2]), scale=0.2,
        confidence=visibility, inlier_ratio=1.0, num_correspondences=0, fused=False, fused_views=0, view_span=0.0)


def write_gt_bag(path, frames, topic=GT_TOPIC, size=(0.1, 0.08, 0.12)):
    store = get_typestore()
    T = store.types
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(topic, OBJECT_POSE_ARRAY, typestore=store)
        for sec, objects in frames:
            header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=250),
                                              frame_id="camera_color_optical_frame")
            msg = T[OBJECT_POSE_ARRAY](header=header, objects=[
                _object(T, header, cat, inst, pos, size, vis) for cat, inst, pos, vis in objects])
            writer.write(conn, sec * 1_000_000_000 + 250, store.serialize_cdr(msg, OBJECT_POSE_ARRAY))


def test_load_gt_from_bag(tmp_path):
    bag = tmp_path / "gt_bag"
    write_gt_bag(bag, [(10, [("mug", 1, (0.0, 0.1, 0.8), 0.75), ("camera", 2, (0.2, 0.0, 1.0), 0.5)]),
                       (11, [("mug", 1, (0.01, 0.1, 0.8), 1.0)])])
    recs = load_gt_from_bag(bag)
    assert [(r.frame, r.category, r.instance) for r in recs] == [
        ((10, 250), "mug", 1), ((10, 250), "camera", 2), ((11, 250), "mug", 1)]
    np.testing.assert_allclose(recs[0].R, quaternion_to_matrix_np(Q), atol=1e-12)
    np.testing.assert_allclose(recs[1].t, [0.2, 0.0, 1.0])
    np.testing.assert_allclose(recs[0].size, [0.1, 0.08, 0.12])
    assert recs[0].visibility == pytest.approx(0.75) and recs[1].visibility == pytest.approx(0.5)
    (mcap,) = bag.glob("*.mcap")
    assert len(load_gt_from_bag(mcap)) == 3  # a bare .mcap file works too


def test_bag_errors(tmp_path):
    bag = tmp_path / "other"
    write_gt_bag(bag, [(1, [("mug", 1, (0, 0, 1), 1.0)])], topic="/objects")
    with pytest.raises(ValueError, match=r"no topic '/ground_truth/objects'.*'/objects'"):
        load_gt_from_bag(bag)
    bad = tmp_path / "bad"
    write_gt_bag(bad, [(1, [("mug", 1, (0, 0, 1), 1.0)])], size=(0.1, 0.0, 0.1))
    with pytest.raises(ValueError, match="message 0, object 0: size"):
        load_gt_from_bag(bad)
    with pytest.raises(FileNotFoundError):
        load_gt_from_bag(tmp_path / "missing")


def test_cli_eval_with_bag_ground_truth(tmp_path, capsys):
    from selfpose_ros.eval.io_jsonl import ObjectRecord

    bag = tmp_path / "gt_bag"
    write_gt_bag(bag, [(10, [("mug", 1, (0.0, 0.1, 0.8), 0.9)]), (11, [("mug", 1, (0.0, 0.1, 0.8), 0.2)])])
    R = quaternion_to_matrix_np(Q)
    size = np.array([0.1, 0.08, 0.12])
    preds = [ObjectRecord((10, 250), "mug", 1, 0.9, R, np.array([0.0, 0.1, 0.8]), size),
             ObjectRecord((11, 250), "mug", 1, 0.8, R, np.array([0.0, 0.1, 0.85]), size)]
    pred_path = tmp_path / "pred.jsonl"
    write_records(pred_path, preds)
    assert main(["eval", "--pred", str(pred_path), "--gt", str(bag)]) == 0
    out = capsys.readouterr().out
    mug = next(line for line in out.splitlines() if line.startswith("mug"))
    assert mug.split()[1:3] == ["2", "2"]
    assert main(["eval", "--pred", str(pred_path), "--gt", str(bag), "--min-visibility", "0.5"]) == 0
    out = capsys.readouterr().out
    mug = next(line for line in out.splitlines() if line.startswith("mug"))
    assert mug.split()[1] == "1" and mug.split()[3] == "100.0"  # frame 11's GT (visibility 0.2) ignored
