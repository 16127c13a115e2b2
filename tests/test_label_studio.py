"""The Label Studio loop against a real server: pick, push, annotate, pull, pick again.

The server is the `label-studio` program (its own virtual environment in CI, see .ci/run; its
path in ALSELECT_LABEL_STUDIO or on PATH), started once per session on a free loopback port
with SQLite in a temporary data directory. Without it the tests skip, except under CI=true.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from conftest import SAMPLE_POOL

pytestmark = pytest.mark.label_studio
TOKEN = "0123456789abcdef0123456789abcdef01234567"


def _server_program():
    return os.environ.get("ALSELECT_LABEL_STUDIO") or shutil.which("label-studio")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    pytest.importorskip("label_studio_sdk") if os.environ.get("CI") != "true" else None
    program = _server_program()
    if program is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must provide the Label Studio server (ALSELECT_LABEL_STUDIO)")
        pytest.skip("no label-studio program (set ALSELECT_LABEL_STUDIO)")
    data = tmp_path_factory.mktemp("label-studio")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data), "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
           "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""}
    log = open(data / "server.log", "w")
    proc = subprocess.Popen(
        [program, "start", "--no-browser", "--host", "127.0.0.1", "-p", str(port), "--data-dir", str(data),
         "--username", "labeler@example.com", "--password", "labeler-pass", "--user-token", TOKEN,
         "--enable-legacy-api-token"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail("Label Studio did not start:\n" + (data / "server.log").read_text()[-3000:])
        time.sleep(1)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def run(*args, stdin=None, token=True):
    env = dict(os.environ)
    if token:
        env["LABEL_STUDIO_API_KEY"] = TOKEN
    else:
        env.pop("LABEL_STUDIO_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "alselect", *args], input=stdin, capture_output=True, text=True,
                          timeout=300, env=env)


def client(url):
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=url, api_key=TOKEN)


def annotate(url, project, truth_of):
    """Label every open task as an annotator would: one choice, through the API."""
    ls = client(url)
    done = 0
    for task in ls.tasks.list(project=project, fields="all"):
        if task.annotations:
            continue
        ls.annotations.create(id=task.id, result=[{"from_name": "label", "to_name": "image", "type": "choices",
                                                   "value": {"choices": [truth_of(task.data["alselect_id"])]}}])
        done += 1
    return done


def test_full_cycle_pick_push_annotate_pull_pick_again(server, tmp_path):
    pool = str(tmp_path / "digits.h5")
    shutil.copy(SAMPLE_POOL, pool)
    from alselect.pool import open_pool

    with open_pool(pool) as p:
        truth = p.read("truth")
        ids = [str(i) for i in p.ids()]
        names = p.class_names()
        labeled0 = p.labeled_rows()
    row_of = {sample: row for row, sample in enumerate(ids)}

    def truth_of(sample):
        return names[int(truth[row_of[sample]])]

    picked_all = []
    project = None
    for cycle in (1, 2):
        picks = tmp_path / f"picks{cycle}.txt"
        r = run("pick", pool, "-s", "entropy", "-b", "8", "--ids", "--with-scores", "-o", str(picks))
        assert r.returncode == 0, r.stderr
        rows = [row_of[line.split("\t")[0]] for line in picks.read_text().splitlines()]
        assert not set(rows) & set(picked_all) and not set(rows) & set(labeled0.tolist())
        picked_all += rows
        target = ["--new-project", "alselect test"] if project is None else ["--project", str(project)]
        r = run("push", "label-studio", pool, "--picks", str(picks), "--ids", "--strategy", "entropy",
                "--data-root", "http://images.example/digits", "--url", server, *target)
        assert r.returncode == 0, r.stderr
        if project is None:
            project = int(r.stdout.strip())
        else:
            assert r.stdout == ""
        assert "created 8 task(s), 0 already there" in r.stderr
        # pushing the same picks again creates nothing
        r = run("push", "label-studio", pool, "--picks", str(picks), "--ids", "--url", server, "--project",
                str(project))
        assert r.returncode == 0 and "created 0 task(s), 8 already there" in r.stderr, r.stderr
        r = run("pull", "label-studio", pool, "--url", server, "--project", str(project))
        assert r.returncode == 0 and ("no finished annotations" in r.stderr or "nothing changed" in r.stderr), r.stderr
        assert annotate(server, project, truth_of) == 8
        r = run("pull", "label-studio", pool, "--url", server, "--project", str(project))
        assert r.returncode == 0, r.stderr
        assert f"cycle {cycle}: 8 newly labeled" in r.stderr
        with open_pool(pool) as p:
            labels = p.read("labels")
            labeled = p.labeled_rows()
        assert np.array_equal(labels[rows], truth[rows])
        assert set(rows) <= set(labeled.tolist())
    from alselect.labeling import read_history

    history = read_history(pool)
    assert sorted(history.rows.tolist()) == sorted(picked_all)
    assert history.cycle.tolist() == [1] * 8 + [2] * 8
    tasks = list(client(server).tasks.list(project=project, fields="all"))
    assert len(tasks) == 16
    meta = tasks[0].meta
    assert meta["strategy"] == "entropy" and "score" in meta


def test_exported_file_imports_into_the_real_server(server, tmp_path):
    pool = str(tmp_path / "digits.h5")
    shutil.copy(SAMPLE_POOL, pool)
    picks = tmp_path / "picks.jsonl"
    r = run("pick", pool, "-s", "margin", "-b", "5", "--format", "jsonl", "--with-scores", "-o", str(picks))
    assert r.returncode == 0, r.stderr
    tasks_file, config_file = tmp_path / "tasks.json", tmp_path / "config.xml"
    r = run("export", "label-studio", pool, "--picks", str(picks), "--data-root", "https://x.example/img",
            "--strategy", "margin", "-o", str(tasks_file), "--config", str(config_file))
    assert r.returncode == 0, r.stderr
    tasks = json.loads(tasks_file.read_text())
    assert [t["data"]["alselect_row"] for t in tasks] == [json.loads(line)["row"] for line in picks.read_text().splitlines()]
    ls = client(server)
    project = ls.projects.create(title="export check", label_config=config_file.read_text())
    response = ls.projects.import_tasks(id=project.id, request=tasks)
    assert response.task_count == 5 and response.prediction_count == 5
    stored = list(ls.tasks.list(project=project.id, fields="all"))
    assert {t.data["alselect_id"] for t in stored} == {t["data"]["alselect_id"] for t in tasks}


def test_wrong_token_and_missing_token_are_one_error_line(server, tmp_path):
    pool = str(tmp_path / "digits.h5")
    shutil.copy(SAMPLE_POOL, pool)
    r = run("pull", "label-studio", pool, "--url", server, "--project", "1", token=False)
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and "LABEL_STUDIO_API_KEY" in r.stderr
    env_token = TOKEN[::-1]
    r = subprocess.run([sys.executable, "-m", "alselect", "pull", "label-studio", pool, "--url", server,
                        "--project", "1"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "LABEL_STUDIO_API_KEY": env_token})
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "token" in r.stderr, r.stderr
    assert env_token not in r.stderr
    r = run("pull", "label-studio", pool, "--url", "http://127.0.0.1:9", "--project", "1")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "server is running" in r.stderr, r.stderr
