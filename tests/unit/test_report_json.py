"""report.json is indented while people may read it, compact above INDENT_UP_TO decisions, the same data either way."""

import json

from bot.report.json_report import INDENT_UP_TO, write_report


def test_small_reports_are_indented_large_ones_compact(tmp_path):
    small = {"version": 1, "decisions": [{"ref": "a/b/c", "status": "selected"}], "unmapped": []}
    large = {"version": 1, "counts": {"selected": 3}, "decisions": [{"ref": f"a/b/c{i}", "steps": [{"v": 1.5}]} for i in range(INDENT_UP_TO + 1)],
             "unmapped": [{"ref": "x", "reason": "é \"quoted\""}], "warnings": []}
    write_report(small, tmp_path / "small.json")
    write_report(large, tmp_path / "large.json")
    small_text = (tmp_path / "small.json").read_text(encoding="utf-8")
    large_text = (tmp_path / "large.json").read_text(encoding="utf-8")
    assert small_text == json.dumps(small, indent=2) + "\n"
    # written one decision at a time, yet the very text the one-shot compact encoder gives
    assert large_text == json.dumps(large, separators=(",", ":")) + "\n"
    assert large_text.count("\n") == 1 and json.loads(large_text) == large
