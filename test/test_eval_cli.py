"""`selfpose eval` on the shipped example: prints both tables, writes metrics.json and PNG plots."""

import json
from pathlib import Path

from selfpose_ros.cli.main import main

DATA = Path(__file__).parent / "data" / "eval_example"


def test_eval_example_prints_table_and_writes_plots(tmp_path, capsys):
    out_dir = tmp_path / "report"
    rc = main(["eval", "--pred", str(DATA / "pred.jsonl"), "--gt", str(DATA / "gt.jsonl"), "--out", str(out_dir)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "AP (NOCS-style" in out and "Per-frame accuracy" in out
    for name in ("IoU25", "IoU50", "5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm"):
        assert name in out
    map_line = next(line for line in out.splitlines() if line.startswith("mAP"))
    values = [float(v) for v in map_line.split()[3:]]
    assert len(values) == 6 and all(0.0 <= v <= 100.0 for v in values)
    assert values[0] >= values[1]  # IoU25 AP >= IoU50 AP
    pngs = sorted(p.name for p in out_dir.glob("*.png"))
    assert pngs == ["ap_vs_iou.png", "ap_vs_rotation.png", "ap_vs_translation.png", "hist_iou.png",
                    "hist_rotation.png", "hist_translation.png"]
    for png in out_dir.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert abs(100 * metrics["ap"]["IoU25"]["mean"] - values[0]) < 0.06
    assert set(metrics["curves"]) == {"iou", "rotation", "translation"}
    rotation = metrics["curves"]["rotation"]
    assert len(rotation["thresholds"]) == 61 and all(len(v) == 61 for v in rotation["ap"].values())


def test_eval_reports_bad_input_with_line_number(tmp_path, capsys):
    bad = tmp_path / "pred.jsonl"
    lines = (DATA / "pred.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"score"', '"scor"')
    bad.write_text("\n".join(lines) + "\n")
    rc = main(["eval", "--pred", str(bad), "--gt", str(DATA / "gt.jsonl")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "pred.jsonl:3" in err and "score" in err
    assert main(["eval", "--pred", str(DATA / "pred.jsonl"), "--gt", str(tmp_path / "none.jsonl")]) == 2
    assert main(["eval", "--pred", str(DATA / "pred.jsonl"), "--gt", str(DATA / "gt.jsonl"),
                 "--min-visibility", "2"]) == 2
