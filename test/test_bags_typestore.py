"""The rosbags type store knows our messages, and they survive a real MCAP rosbag2 round trip."""

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from selfpose_ros.data.typestore import OBJECT_POSE_ARRAY, get_typestore, msg_definition_dir


def test_definitions_are_the_package_messages():
    assert (msg_definition_dir() / "ObjectPoseArray.msg").is_file()
    store = get_typestore()
    names = [name for name, *_ in store.fielddefs[OBJECT_POSE_ARRAY][1]]
    assert names == ["header", "objects"]
    pose_fields = [name for name, *_ in store.fielddefs["selfpose_ros/msg/ObjectPose"][1]]
    assert pose_fields == ["header", "category", "instance_id", "pose", "size", "scale", "confidence",
                           "inlier_ratio", "num_correspondences", "fused", "fused_views", "view_span"]
    assert "vision_msgs/msg/Detection3DArray" in store.fielddefs
    assert "tf2_msgs/msg/TFMessage" in store.fielddefs


def test_object_pose_array_round_trips_through_mcap(tmp_path):
    store = get_typestore()
    T = store.types
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=5, nanosec=7), frame_id="cam")
    pose = T["geometry_msgs/msg/Pose"](
        position=T["geometry_msgs/msg/Point"](x=0.1, y=0.2, z=0.7),
        orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
    )
    obj = T["selfpose_ros/msg/ObjectPose"](
        header=header, category="mug", instance_id=3, pose=pose,
        size=T["geometry_msgs/msg/Vector3"](x=0.1, y=0.09, z=0.08), scale=0.15, confidence=0.9,
        inlier_ratio=0.75, num_correspondences=420, fused=True, fused_views=12, view_span=0.8,
    )
    msg = T[OBJECT_POSE_ARRAY](header=header, objects=[obj, obj])
    bag = tmp_path / "bag"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/objects", OBJECT_POSE_ARRAY, typestore=store)
        writer.write(conn, 5_000_000_007, store.serialize_cdr(msg, OBJECT_POSE_ARRAY))
    assert list(bag.glob("*.mcap"))
    with Reader(bag) as reader:
        (conn,) = reader.connections
        assert conn.msgtype == OBJECT_POSE_ARRAY
        (_, stamp, raw), = list(reader.messages())
        back = store.deserialize_cdr(raw, conn.msgtype)
    assert stamp == 5_000_000_007
    assert [o.category for o in back.objects] == ["mug", "mug"]
    assert back.objects[1].instance_id == 3 and back.objects[1].num_correspondences == 420
    assert back.objects[0].fused and back.objects[0].fused_views == 12
    assert back.objects[0].view_span == np.float32(0.8)
    np.testing.assert_allclose([back.objects[0].pose.position.z, back.objects[0].scale], [0.7, 0.15])
