"""`alselect label`: labels back into the pool, through the real console script."""

import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from alselect.labeling import apply_labels, parse_label_text, read_history
from alselect.labeling.history import GROUP, history_defaults
from alselect.pool import open_pool

from conftest import SAMPLE_POOL


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "alselect", *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def pool(tmp_path):
    path = tmp_path / "digits.h5"
    shutil.copy(SAMPLE_POOL, path)
    return str(path)


def labels_of(path):
    with open_pool(path) as p:
        return p.read("labels").astype(np.int64), p.labeled_rows()


def test_label_csv_and_jsonl_mark_rows_labeled_with_history(pool):
    before, labeled_before = labels_of(pool)
    with open_pool(pool) as p:
        ids = p.ids()
    free = np.setdiff1d(np.arange(before.size), labeled_before)[:4]
    csv = "id,class\n" + "".join(f"{ids[r]},{r % 10}\n" for r in free[:2])
    r = run("label", pool, "--from", "-", stdin=csv)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert "cycle 1: 2 newly labeled" in r.stderr
    jsonl = "".join(f'{{"row": {int(row)}, "label": {int(row) % 10}}}\n' for row in free[2:])
    r = run("label", pool, "--from", "-", stdin=jsonl)
    assert r.returncode == 0, r.stderr
    after, labeled_after = labels_of(pool)
    assert np.array_equal(after[free], free % 10)
    assert np.array_equal(np.setdiff1d(labeled_after, labeled_before), np.sort(free))
    untouched = np.setdiff1d(np.arange(before.size), free)
    assert np.array_equal(after[untouched], before[untouched])
    history = read_history(pool)
    assert history.rows.tolist() == free.tolist()
    assert history.cycle.tolist() == [1, 1, 2, 2]
    assert (history.previous == -1).all()
    with open_pool(pool) as p:
        assert history_defaults(p) == (labeled_before.size, 3)
    # picks never include the new labels
    r = run("pick", pool, "-s", "entropy", "-b", "50")
    assert not set(map(int, r.stdout.split())) & set(free.tolist())


def test_relabel_conflict_needs_overwrite_and_repeat_is_a_no_op(pool):
    with open_pool(pool) as p:
        row = int(p.labeled_rows()[0])
        old = int(p.read("labels")[row])
    new = (old + 1) % 10
    mtime = os.stat(pool).st_mtime_ns
    r = run("label", pool, "--from", "-", stdin=f"row,label\n{row},{new}\n")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: ") and "--overwrite" in r.stderr
    assert os.stat(pool).st_mtime_ns == mtime
    r = run("label", pool, "--from", "-", "--overwrite", stdin=f"row,label\n{row},{new}\n")
    assert r.returncode == 0, r.stderr
    assert "1 relabeled" in r.stderr
    assert labels_of(pool)[0][row] == new
    history = read_history(pool)
    assert history.previous.tolist() == [old] and history.labels.tolist() == [new]
    r = run("label", pool, "--from", "-", stdin=f"row,label\n{row},{new}\n")
    assert r.returncode == 0 and "nothing changed (1 sample(s) already labeled so)" in r.stderr
    assert len(read_history(pool)) == 1


@pytest.mark.parametrize("text, message", [
    ("id,class\nno-such-id,3\n", "not in the pool"),
    ("id,class\ndigit-0001,cat\n", "unknown class 'cat'"),
    ("row,label\n99999,3\n", "outside the pool's rows"),
    ("row,label\n-1,3\n", "outside the pool's rows"),
    ("row,label\n1e23,3\n", "not an integer"),
    ("row,label\n5,10\n", "outside the classes 0..9"),
    ("row,label\n5,1\n5,2\n", "two different labels"),
    ("sample,label\n5,1\n", "needs exactly one of id/row"),
    ("row,label\n5\n", "fields"),
    ("", "empty"),
    ("row,label\n", "no entries"),
    ('{"row": 5}\n', "needs exactly one"),
    ('{"row": 5, "label": null}\n', "give a string"),
    ("{not json\n", "not valid JSON"),
])
def test_bad_label_files_are_one_error_line_and_change_nothing(pool, text, message):
    with open(pool, "rb") as handle:
        before = handle.read()
    r = run("label", pool, "--from", "-", stdin=text)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr
    with open(pool, "rb") as handle:
        assert handle.read() == before


def test_non_utf8_label_file(pool, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes(b"id,class\n\xff\xfe,1\n")
    r = run("label", pool, "--from", str(path))
    assert r.returncode == 1 and "not UTF-8" in r.stderr


def test_crash_between_history_and_labels_is_repaired(pool):
    """A kill after the history commit but before ``labels`` is written loses nothing."""
    with open_pool(pool) as p:
        row = int(np.setdiff1d(np.arange(p.n_rows), p.labeled_rows())[0])
    apply_labels(pool, parse_label_text(f"row,label\n{row},4\n"))
    with h5py.File(pool, "r+") as f:  # simulate the crash: labels never written
        f["labels"][row] = -1
    assert labels_of(pool)[0][row] == -1
    report = apply_labels(pool, parse_label_text(f"row,label\n{row + 1},4\n"))
    assert report.repaired == 1
    assert labels_of(pool)[0][row] == 4


def test_uncommitted_history_tail_is_ignored_and_overwritten(pool):
    apply_labels(pool, parse_label_text("row,label\n1500,4\n"))
    with h5py.File(pool, "r+") as f:  # a crash mid-append: a tail beyond `committed`
        for name in ("rows", "labels", "previous", "cycle", "time"):
            f[GROUP][name].resize((2,))
        f[GROUP]["rows"][1] = 1501
    assert len(read_history(pool)) == 1
    apply_labels(pool, parse_label_text("row,label\n1502,5\n"))
    assert read_history(pool).rows.tolist() == [1500, 1502]


def test_history_defaults_feed_balanced(pool):
    """balanced takes b0 and the cycle from the history when not given."""
    with open_pool(pool) as p:
        free = np.setdiff1d(np.arange(p.n_rows), p.labeled_rows())[:20]
        b0 = p.labeled_rows().size
    apply_labels(pool, parse_label_text("row,label\n" + "".join(f"{r},{r % 10}\n" for r in free)))
    r = run("pick", pool, "-s", "balanced", "-b", "20")
    assert r.returncode == 0, r.stderr
    assert f"cycle 2 (b=20, b0={b0})" in r.stderr


def test_without_the_sdk_push_and_pull_are_one_error_line_and_export_works(pool, tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['label_studio_sdk'] = None\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]),
               LABEL_STUDIO_API_KEY="x" * 40)
    picks = tmp_path / "picks.txt"
    picks.write_text("1500\n1501\n")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "alselect", *args], capture_output=True, text=True,
                              timeout=120, env=env)

    for args in (["push", "label-studio", pool, "--picks", str(picks), "--url", "http://127.0.0.1:9",
                  "--project", "1"],
                 ["pull", "label-studio", pool, "--url", "http://127.0.0.1:9", "--project", "1"]):
        r = cli(*args)
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
        assert "pip install 'alselect[label-studio]'" in r.stderr
    r = cli("export", "label-studio", pool, "--picks", str(picks), "-o", str(tmp_path / "tasks.json"))
    assert r.returncode == 0, r.stderr
    assert len(__import__("json").loads((tmp_path / "tasks.json").read_text())) == 2
