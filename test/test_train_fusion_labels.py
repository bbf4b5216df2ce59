"""Pseudo-labels from pose_estimator's fusion, and trajectory segments split at camera jumps."""

from pathlib import Path

import numpy as np
import pytest
from builders import simulated_bag
from rosbags.rosbag2 import Reader

from selfpose_ros.eval.errors import rotation_error_deg
from selfpose_ros.train.dataset import TrajectoryDataset
from selfpose_ros.train.dataset_records import MAX_STEP_M, FrameRecord, assign_segments, camera_step
from selfpose_ros.train.fusion_labels import fused_boxes
from selfpose_ros.train.pseudo_labels import compute_pseudo_labels

CATS = ("mug", "bowl")


def _pose(x: float, yaw_deg: float = 0.0) -> np.ndarray:
    a = np.radians(yaw_deg)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = [x, 0.0, 1.0]
    return T


def test_camera_jumps_and_time_gaps_start_new_segments():
    second = 10**9
    poses = [_pose(0.02 * k, 2.0 * k) for k in range(5)]  # a smooth arc
    poses += [_pose(1.5 + 0.02 * k) for k in range(3)]  # the robot went elsewhere
    poses += [_pose(1.56, 90.0 + 3.0 * k) for k in range(2)]  # turned on the spot, more than 45 degrees at once
    frames = [FrameRecord(0, k * second // 3, "cam", T) for k, T in enumerate(poses)]
    frames.append(FrameRecord(0, 20 * second, "cam", _pose(1.56, 93.0)))  # a long pause
    assign_segments(frames, 5 * second)
    assert [(f.segment, f.index) for f in frames] == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 1),
                                                      (1, 2), (2, 0), (2, 1), (3, 0)]
    metres, degrees = camera_step(poses[0], poses[1])
    assert metres == pytest.approx(0.02) and degrees == pytest.approx(2.0)
    # with the jump rule relaxed the arc and the far views are one trajectory again
    frames = frames[:8]
    assign_segments(frames, 5 * second, max_step_m=2.0)
    assert {f.segment for f in frames} == {0} and MAX_STEP_M < 1.5


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """A simulated trajectory bag of two objects (exact geometry)."""
    root = tmp_path_factory.mktemp("fusion_labels")
    return simulated_bag(root / "sim", CATS, frames=10, seed=2, width=320, height=240,
                         extra=("--rate", "2", "--realism", "none", "--objects", "2-2"))


def test_fused_boxes_label_every_frame_of_a_trajectory_from_the_node_fusion(scene, monkeypatch):
    ds = TrajectoryDataset([scene], categories=CATS, crop_size=64, min_mask_pixels=40, mode="supervised")
    asked, real_messages = [], Reader.messages

    def spy(self, connections=(), *args, **kwargs):
        asked.extend(c.topic for c in (connections or self.connections))
        return real_messages(self, connections, *args, **kwargs)

    monkeypatch.setattr(Reader, "messages", spy)
    boxes = fused_boxes(ds)  # the bag is read again: its images, never its ground-truth topic
    monkeypatch.undo()
    assert "/camera/segmentation" in asked and not [t for t in asked if "ground_truth" in t]
    assert len(boxes) >= len(ds.groups) - 1 and set(boxes) <= set(range(len(ds.groups)))
    for box in boxes.values():
        assert box.views >= 2 and 0 < box.quality <= 1 and box.span_deg > 0
    priors = {c: np.zeros((10, 3)) for c in CATS}  # unused: every group below has its box
    labels = compute_pseudo_labels(ds, priors, use_up=True, boxes={g: boxes[g] for g in boxes})
    labelled = [i for g in boxes for i in ds.groups[g]]
    assert sorted(labels) == sorted(labelled)
    t_err, r_err, ratio = [], [], []
    for i in labelled:
        gt, lab = ds.crops[i].ground_truth, labels[i]
        t_err.append(np.linalg.norm(lab.t - gt.t))
        r_err.append(rotation_error_deg(lab.R, gt.R, "continuous_y" if ds.crops[i].category == "bowl" or
                                        not lab.handle_visible else "none"))
        ratio.append(lab.extents / gt.size)
    assert np.median(t_err) < 0.02 and np.median(r_err) < 10.0
    assert np.median(np.abs(np.log(np.array(ratio))), axis=0).max() < np.log(1.25)
    # one label per trajectory: the same world box in every frame of the group
    g = next(iter(boxes))
    first = [labels[i] for i in ds.groups[g]]
    centres = [ds.frames[ds.crops[i].frame].T_map_cam[:3, :3] @ lab.t + ds.frames[ds.crops[i].frame].T_map_cam[:3, 3]
               for i, lab in zip(ds.groups[g], first)]
    assert np.ptp(np.array(centres), axis=0).max() < 1e-9


def test_bags_labelled_in_worker_processes_get_the_same_boxes(scene):
    one = fused_boxes(TrajectoryDataset([scene], categories=CATS, crop_size=64, min_mask_pixels=40))
    twice = TrajectoryDataset([scene, scene], categories=CATS, crop_size=64, min_mask_pixels=40)
    boxes = fused_boxes(twice, workers=2)
    n = len(twice.groups) // 2
    assert one and sorted(boxes) == sorted([*one, *(g + n for g in one)])
    for g, box in one.items():
        for other in (boxes[g], boxes[g + n]):
            assert np.array_equal(other.R, box.R) and np.array_equal(other.size, box.size)
