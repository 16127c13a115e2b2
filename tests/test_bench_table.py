"""The README performance table is what bench/make_readme_table.py makes of bench/results.jsonl."""

import importlib.util
import json
import os

import pytest

from conftest import ROOT


def _table_module():
    spec = importlib.util.spec_from_file_location("make_readme_table", os.path.join(ROOT, "bench", "make_readme_table.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_saved_results_have_the_row_format():
    table = _table_module()
    rows = table.load_results()  # raises on a malformed row
    assert rows
    commands = {f"python bench/{b}" for b in table.BENCHES}
    assert {r["command"] for r in rows} <= commands


def test_readme_table_is_generated_from_the_saved_results():
    table = _table_module()
    with open(table.README) as f:
        readme = f.read()
    assert table.replace_table(readme, table.render(table.load_results())) == readme


def test_rows_say_what_was_compared_and_mark_extrapolation():
    table = _table_module()
    row = {"bench": "x", "workload": "w", "compared": "first 20 picks", "alselect_s": 1.0, "alselect_cpu_s": 0.9,
           "reference": "NumPy", "reference_s": 50.0, "reference_cpu_s": 49.0, "extrapolated": True,
           "identical": True, "load": 2, "cores": 2, "command": "python bench/x.py"}
    line = table.render([row]).splitlines()[-1]
    assert "first 20 picks" in line and "*extrapolated*" in line and "50.0x faster" in line
    assert "+2 busy processes" in line and "CPU 0.9 s" in line
    slower = table.render([dict(row, reference_s=0.5, extrapolated=False)]).splitlines()[-1]
    assert "2.0x **slower**" in slower and "extrapolated" not in slower
    with pytest.raises(ValueError):
        table.check_row(dict(row, alselect_s="fast"))
    with pytest.raises(ValueError):
        table.check_row({k: v for k, v in row.items() if k != "compared"})
    json.dumps(row)
