"""`alselect report`: the visual pick report (matplotlib, the [plot] extra)."""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SAMPLE_POOL

pytest.importorskip("matplotlib")


def run(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "alselect", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


def test_report_files_exist_and_the_page_embeds_and_links_them(tmp_path):
    pool = str(tmp_path / "digits.h5")
    shutil.copy(SAMPLE_POOL, pool)
    picks = tmp_path / "picks.txt"
    r = run("pick", pool, "-s", "entropy", "-b", "40", "--with-scores", "-o", str(picks))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "rep" / "report.html"
    out.parent.mkdir()
    r = run("report", pool, "--picks", str(picks), "--strategy", "entropy", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    page = out.read_text()
    for name in ("classes.png", "scores.png", "map.png"):
        png = out.parent / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'href="{name}"' in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 3
    assert "L1 balance score of labeled + picks" in page
    assert not (out.parent / "thumbnails.png").exists()  # the digits ids are not image files


def test_thumbnails_when_ids_are_image_files(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_digits

    from alselect.pool import open_pool, write_pool

    digits = load_digits()
    n = 300
    images = tmp_path / "images"
    images.mkdir()
    ids = [f"img{i:04d}.png" for i in range(n)]
    for i in range(n):
        plt.imsave(images / ids[i], digits.images[i], cmap="gray")
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), size=n).astype(np.float32)
    pool = str(tmp_path / "img.h5")
    write_pool(pool, probs=probs, embeddings=digits.data[:n].astype(np.float32), ids=np.array(ids),
               labeled=np.arange(10))
    picks = tmp_path / "picks.txt"
    assert run("pick", pool, "-s", "kcenter", "-b", "12", "--ids", "-o", str(picks)).returncode == 0
    out = tmp_path / "report.html"
    r = run("report", pool, "--picks", str(picks), "--ids", "--data-root", str(images), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "thumbnails.png").exists()
    assert 'href="thumbnails.png"' in out.read_text()
    with open_pool(pool) as p:
        assert p.n_rows == n


def test_without_matplotlib_report_is_one_error_line_naming_the_extra(tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['matplotlib'] = None\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), ROOT]))
    picks = tmp_path / "p.txt"
    picks.write_text("1\n2\n")
    out = tmp_path / "r.html"
    r = run("report", SAMPLE_POOL, "--picks", str(picks), "-o", str(out), env=env)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "pip install 'alselect[plot]'" in r.stderr
    assert not out.exists()


def test_bad_picks_and_missing_directory(tmp_path):
    picks = tmp_path / "p.txt"
    picks.write_text("5\n5\n")
    r = run("report", SAMPLE_POOL, "--picks", str(picks), "-o", str(tmp_path / "r.html"))
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1
    picks.write_text("5\n")
    r = run("report", SAMPLE_POOL, "--picks", str(picks), "-o", str(tmp_path / "nope" / "r.html"))
    assert r.returncode == 1 and "does not exist" in r.stderr
