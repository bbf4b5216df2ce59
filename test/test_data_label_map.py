"""Segmentation decoding for the segmenters people use: panoptic, instance-id images with a class list, and
semantic-only images (one object per class); unknown values are reported, never guessed."""

import numpy as np
import pytest

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.data.instances import extract_instances
from selfpose_ros.data.label_map import LabelMap, parse_label_map

CATS = list(CATEGORIES)  # bottle bowl camera can laptop mug -> indices 1..6


def objects(label_map: LabelMap, labels: np.ndarray) -> tuple[set[tuple[str, int, int]], list[int]]:
    """(category, instance, pixels) of every object the node would see, and the unknown values."""
    panoptic, unknown = label_map.to_panoptic(labels)
    instances, skipped = extract_instances(panoptic, CATS)
    assert skipped == []
    return {(i.category, i.instance, i.pixels) for i in instances}, unknown


def test_parse_label_map():
    assert parse_label_map("44: bottle, 47:mug ,") == {44: "bottle", 47: "mug"}
    assert parse_label_map("") == {}
    for bad in ("44 bottle", "x: mug", "3:", "1: mug, 1: bowl"):
        with pytest.raises(ValueError):
            parse_label_map(bad)


def test_default_panoptic_passes_labels_through():
    lm = LabelMap.create("panoptic", "", CATS)
    labels = np.array([[0, 6001, 6001], [2003, 2003, 0]], np.int32)
    out, unknown = lm.to_panoptic(labels)
    assert out is labels and unknown == []


def test_panoptic_with_other_class_ids():
    lm = LabelMap.create("panoptic", "44: bottle, 47: mug", CATS)
    labels = np.array([[0, 47001, 47001], [44002, 44002, 44002], [99001, 0, 47003]], np.int32)
    found, unknown = objects(lm, labels)
    assert found == {("mug", 1, 2), ("bottle", 2, 3), ("mug", 3, 1)}
    assert unknown == [99001]


def test_instance_id_image_with_a_separate_class_list():
    lm = LabelMap.create("instance_ids", "1: mug, 2: bowl, 3: mug", CATS)
    labels = np.array([[1, 1, 2], [3, 3, 3], [0, 7, 7]], np.uint16)
    found, unknown = objects(lm, labels)
    assert found == {("mug", 1, 2), ("bowl", 2, 1), ("mug", 3, 3)}
    assert unknown == [7]


def test_semantic_image_one_object_per_class():
    lm = LabelMap.create("semantic", "44: bottle, 47: mug, 51: bowl, 52: mug", CATS)
    labels = np.array([[44, 44, 47], [51, 0, 52], [13, 13, 0]], np.uint8)
    found, unknown = objects(lm, labels)
    # two classes mapped to mug: instances 1 and 2 (in value order), so their TF frames differ
    assert found == {("bottle", 1, 2), ("mug", 1, 1), ("bowl", 1, 1), ("mug", 2, 1)}
    assert unknown == [13]


def test_large_and_negative_values_take_the_general_path():
    lm = LabelMap.create("semantic", "44: bottle", CATS)
    labels = np.array([[44, -1], [5_000_000, 44]], np.int32)
    found, unknown = objects(lm, labels)
    assert found == {("bottle", 1, 2)}
    assert unknown == [-1, 5_000_000]


@pytest.mark.parametrize(
    "mode, text, message",
    [
        ("rgb", "", "label_mode must be one of"),
        ("semantic", "", "needs a label_map"),
        ("instance_ids", "1: teapot", "not in categories"),
        ("instance_ids", "1000: mug", "outside 1..999"),
        ("semantic", "0: mug", "0 is background"),
        ("panoptic", "mug", "is not '<integer>: <category>'"),
    ],
)
def test_invalid_label_maps_are_rejected_with_the_reason(mode, text, message):
    with pytest.raises(ValueError, match=message):
        LabelMap.create(mode, text, CATS)


def test_pose_estimator_params_validate_the_label_map():
    from selfpose_ros.ros.params import PoseEstimatorParams

    PoseEstimatorParams(label_mode="semantic", label_map="47: mug").validate()
    with pytest.raises(ValueError, match="label_mode 'semantic' needs a label_map"):
        PoseEstimatorParams(label_mode="semantic").validate()
