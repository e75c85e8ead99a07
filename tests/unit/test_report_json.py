"""report.json is indented while people may read it, compact above INDENT_UP_TO decisions, the same data either way."""

import json

from bot.report.json_report import INDENT_UP_TO, dumps_report


def test_small_reports_are_indented_large_ones_compact():
    small = {"version": 1, "decisions": [{"ref": "a/b/c", "status": "selected"}]}
    large = {"version": 1, "decisions": [{"ref": f"a/b/c{i}", "status": "selected"} for i in range(INDENT_UP_TO + 1)]}
    small_text, large_text = dumps_report(small), dumps_report(large)
    assert small_text.startswith('{\n  "version": 1,') and small_text.endswith("}\n")
    # compact: one line (plus the final newline), no space after separators
    assert large_text.count("\n") == 1 and large_text.startswith('{"version":1,"decisions":[{"ref":"a/b/c0",')
    assert json.loads(small_text) == small and json.loads(large_text) == large
