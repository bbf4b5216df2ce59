"""JSON-lines reader/writer: round trip, and validation errors that name the line."""

import json

import numpy as np
import pytest

from selfpose_ros.eval.io_jsonl import ObjectRecord, read_ground_truth, read_predictions, write_records

GOOD = {"frame": [12, 500], "category": "mug", "instance": 2, "score": 0.8,
        "R": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "t": [0.1, -0.2, 0.9], "size": [0.1, 0.09, 0.12],
        "visibility": 0.7}


def _write(tmp_path, lines):
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_round_trip(tmp_path):
    rec = ObjectRecord((3, 4), "bottle", 1, 0.5, np.eye(3), np.array([0.0, 0.1, 0.7]), np.array([0.07, 0.2, 0.07]),
                       0.9)
    path = tmp_path / "out.jsonl"
    write_records(path, [rec, rec])
    back = read_ground_truth(path)
    assert len(back) == 2 and back[0].frame == (3, 4) and back[0].category == "bottle"
    np.testing.assert_array_equal(back[1].t, rec.t)
    assert back[0].visibility == 0.9 and back[0].score == 0.5


def test_comments_blank_lines_and_optional_fields(tmp_path):
    gt = dict(GOOD)
    del gt["score"]
    path = _write(tmp_path, ["# header comment", "", json.dumps(gt)])
    (rec,) = read_ground_truth(path)
    assert rec.score == 1.0 and rec.instance == 2
    pred = dict(GOOD)
    del pred["visibility"]
    (p,) = read_predictions(_write(tmp_path, [json.dumps(pred)]))
    assert p.visibility is None


@pytest.mark.parametrize(("change", "message"), [
    ({"R": [[1, 0, 0], [0, 1, 0], [0, 0, -1]]}, "field 'R' is not a rotation"),
    ({"R": [[1, 0], [0, 1]]}, "field 'R' must have shape"),
    ({"t": [0, "x", 1]}, "field 't' must be numbers"),
    ({"size": [0.1, -0.1, 0.1]}, "field 'size' must be positive"),
    ({"frame": [1, 2_000_000_000]}, "field 'frame'"),
    ({"frame": 5}, "field 'frame'"),
    ({"category": ""}, "field 'category'"),
    ({"instance": -1}, "field 'instance'"),
    ({"score": "high"}, "field 'score'"),
    ({"visibility": 1.5}, "field 'visibility'"),
])
def test_validation_names_line_and_field(tmp_path, change, message):
    bad = {**GOOD, **change}
    path = _write(tmp_path, [json.dumps(GOOD), json.dumps(bad)])
    with pytest.raises(ValueError, match=rf"f\.jsonl:2: {message}"):
        read_ground_truth(path)


def test_missing_fields_and_bad_json(tmp_path):
    no_vis = dict(GOOD)
    del no_vis["visibility"]
    with pytest.raises(ValueError, match=r":1: missing field\(s\) \['visibility'\]"):
        read_ground_truth(_write(tmp_path, [json.dumps(no_vis)]))
    no_score = dict(GOOD)
    del no_score["score"]
    with pytest.raises(ValueError, match=r"missing field\(s\) \['score'\]"):
        read_predictions(_write(tmp_path, [json.dumps(no_score)]))
    with pytest.raises(ValueError, match=r"f\.jsonl:3: invalid JSON"):
        read_predictions(_write(tmp_path, [json.dumps(GOOD), "", "{not json"]))
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_predictions(_write(tmp_path, ["[1, 2]"]))
