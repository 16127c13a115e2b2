"""`alselect infer` fills video/id and video/frame from (inputs, ids, video, frame) items."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from click.testing import CliRunner  # noqa: E402

from alselect import select  # noqa: E402
from alselect.cli import cli  # noqa: E402
from alselect.pool import open_pool  # noqa: E402


def test_infer_fills_video_ids(tmp_path):
    out = tmp_path / "v.h5"
    result = CliRunner().invoke(cli, ["infer", "-o", str(out), "--task", "detection", "--model",
                                      "torch_fixtures:det_model", "--data", "video_torch_fixtures:det_video_data",
                                      "--batch-size", "4"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with open_pool(out) as pool:
        n = pool.n_rows
        assert pool.version == 3 and pool.problems() == []
        np.testing.assert_array_equal(pool.read("video/id"), np.arange(n) % 3)
        np.testing.assert_array_equal(pool.read("video/frame"), np.arange(n) // 3)
        np.testing.assert_array_equal(pool.ids(), np.arange(n) + 500)
    sel = select(out, "entropy", 3, aggregate="detections", per_video=True, exclude_neighbors=1)
    assert sorted(np.arange(n)[sel.indices] % 3) == [0, 1, 2]


def test_infer_refuses_repeated_frames(tmp_path):
    out = tmp_path / "bad.h5"
    result = CliRunner().invoke(cli, ["infer", "-o", str(out), "--task", "detection", "--model",
                                      "torch_fixtures:det_model", "--data",
                                      "video_torch_fixtures:det_video_data_duplicate_frames"])
    assert result.exit_code == 1
    assert "frame 0 of video 0" in result.output.strip().splitlines()[-1]
    assert not out.exists()
