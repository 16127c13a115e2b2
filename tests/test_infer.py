"""`alselect infer`: classification, segmentation (CDAL Eq. 1), detection, atomicity, errors."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import h5py
import numpy as np

import alselect
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from click.testing import CliRunner  # noqa: E402

import torch_fixtures as fx  # noqa: E402
from alselect.cli import cli  # noqa: E402
from alselect.pool import open_pool, write_pool  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FX = "torch_fixtures"


def run(*args):
    return CliRunner().invoke(cli, ["infer", *args], catch_exceptions=False)


def infer_ok(out, *args):
    result = run("-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return result


def infer_error(*args, out="never.h5"):
    result = run("-o", str(out), *args)
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("Error: ")
    return line


def np_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def digits_reference():
    model = fx.digits_mlp().eval()
    x = torch.from_numpy(fx.digits_arrays()[0])
    with torch.no_grad():
        logits = model(x).numpy()
        hidden = model[1](model[0](x)).numpy()  # input of the last Linear (dropout is identity in eval)
    return np_softmax(logits.astype(np.float64)), hidden


# -------------------------------------------------------------------------------- classification
def test_classification_probs_embeddings_ids_and_mc(tmp_path):
    out = tmp_path / "pool.h5"
    result = infer_ok(out, "--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_loader", "--mc-samples", "4",
                      "--seed", "7")
    assert "wrote" in result.output and "200 samples" in result.output
    probs_ref, hidden_ref = digits_reference()
    with open_pool(out) as pool:
        assert pool.problems() == []
        probs = pool.read("probs")
        assert probs.dtype == np.float32
        np.testing.assert_allclose(probs, probs_ref, atol=1e-6)
        np.testing.assert_allclose(pool.read("embeddings"), hidden_ref, atol=1e-5)
        np.testing.assert_array_equal(pool.ids(), np.arange(1000, 1200))
        mc = pool.read("mc_probs")
    assert mc.shape == (200, 4, 10)
    np.testing.assert_allclose(mc.sum(axis=2), 1.0, atol=1e-5)
    assert np.abs(mc[:, 0] - mc[:, 1]).max() > 1e-3  # dropout was on
    assert np.abs(mc - probs[:, None]).max() > 1e-3

    again = tmp_path / "again.h5"
    infer_ok(again, "--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_loader", "--mc-samples", "4", "--seed", "7")
    with open_pool(again) as pool:
        np.testing.assert_array_equal(pool.read("mc_probs"), mc)


def test_mc_dropout_keeps_batchnorm_in_eval(tmp_path):
    from torch.utils.data import DataLoader

    from alselect.infer.hooks import mc_dropout

    out = tmp_path / "pool.h5"
    infer_ok(out, "--model", f"{FX}:digits_mlp_bn", "--data", f"{FX}:digits_data", "--mc-samples", "3",
             "--batch-size", "50", "--seed", "0")
    # Reference: same RNG stream (seed, model init, DataLoader base seed), BatchNorm on running stats.
    torch.manual_seed(0)
    model = fx.digits_mlp_bn().eval()
    ref = []
    with torch.no_grad():
        for (x,) in DataLoader(fx.digits_data(), batch_size=50):
            with mc_dropout(model):
                assert model[1].training is False and model[3].training is True
                ref.append(torch.stack([torch.softmax(model(x), 1) for _ in range(3)], 1))
    assert not model[3].training
    with open_pool(out) as pool:
        np.testing.assert_allclose(pool.read("mc_probs"), torch.cat(ref).numpy(), atol=1e-6)


def test_named_layer_weights_and_file_factory(tmp_path):
    model = fx.digits_mlp()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(-1.5)
    ckpt = tmp_path / "ckpt.pt"
    # Lightning-style: nested under 'state_dict' with a 'model.' prefix on every name.
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 3}, ckpt)
    out = tmp_path / "pool.h5"
    infer_ok(out, "--model", f"{os.path.join(HERE, 'torch_fixtures.py')}:digits_mlp", "--weights", str(ckpt),
             "--data", f"{FX}:digits_data", "--embedding-layer", "0", "--batch-size", "33")
    x = torch.from_numpy(fx.digits_arrays()[0])
    model.eval()
    with torch.no_grad():
        probs_ref = torch.softmax(model(x), 1).numpy()
        emb_ref = model[0](x).numpy()
    with open_pool(out) as pool:
        np.testing.assert_allclose(pool.read("probs"), probs_ref, atol=1e-6)
        np.testing.assert_allclose(pool.read("embeddings"), emb_ref, atol=1e-5)
        assert not pool.has("ids")


def test_hooked_output_is_kept_before_inplace_ops(tmp_path):
    out = tmp_path / "pool.h5"
    infer_ok(out, "--model", f"{FX}:digits_mlp_inplace", "--data", f"{FX}:digits_data", "--embedding-layer", "0")
    model = fx.digits_mlp_inplace().eval()
    with torch.no_grad():
        pre_relu = model[0](torch.from_numpy(fx.digits_arrays()[0])).numpy()
    assert (pre_relu < 0).any()
    with open_pool(out) as pool:
        np.testing.assert_allclose(pool.read("embeddings"), pre_relu, atol=1e-5)


def test_bf16_precision_and_float16_storage(tmp_path):
    out = tmp_path / "pool.h5"
    infer_ok(out, "--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--precision", "bf16",
             "--storage-dtype", "float16")
    probs_ref, _ = digits_reference()
    with open_pool(out) as pool:
        assert pool.dtype("probs") == np.float16 and pool.dtype("embeddings") == np.float16
        assert pool.problems() == []
        np.testing.assert_allclose(pool.read("probs", dtype=np.float64), probs_ref, atol=3e-2)


def test_string_ids_iterable_dataset_and_npy_folders(tmp_path):
    out = tmp_path / "a.h5"
    infer_ok(out, "--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data_str_ids", "--batch-size", "64")
    with open_pool(out) as pool:
        assert list(pool.ids()[:2]) == ["img-0000", "img-0001"]
    out = tmp_path / "b.h5"
    infer_ok(out, "--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_stream", "--batch-size", "64")
    probs_ref, _ = digits_reference()
    with open_pool(out) as pool:
        np.testing.assert_allclose(pool.read("probs"), probs_ref, atol=1e-6)

    x = fx.digits_arrays()[0]
    stacked = tmp_path / "stacked"
    stacked.mkdir()
    np.save(stacked / "inputs.npy", x.astype(np.float64))
    (stacked / "ids.txt").write_text("".join(f"s{i}\n" for i in range(len(x))))
    out = tmp_path / "c.h5"
    infer_ok(out, "--model", f"{FX}:digits_mlp", "--data", str(stacked))
    with open_pool(out) as pool:
        np.testing.assert_allclose(pool.read("probs"), probs_ref, atol=1e-6)
        assert pool.ids()[5] == "s5"

    per_file = tmp_path / "per_file"
    per_file.mkdir()
    for i in range(12):
        np.save(per_file / f"img{i:02d}.npy", x[i])
    out = tmp_path / "d.h5"
    infer_ok(out, "--model", f"{FX}:digits_mlp", "--data", str(per_file), "--batch-size", "5")
    with open_pool(out) as pool:
        np.testing.assert_allclose(pool.read("probs"), probs_ref[:12], atol=1e-6)
        assert list(pool.ids()[:2]) == ["img00", "img01"]


# ---------------------------------------------------------------------------------- segmentation
def cdal_reference(logits: np.ndarray, eps: float):
    """CDAL Eq. 1 per image, written loop by loop from the paper (float64)."""
    n, c = logits.shape[:2]
    mixtures = np.zeros((n, c, c))
    counts = np.zeros((n, c), dtype=np.int64)
    mean_entropy = np.zeros(n)
    probs = np.zeros((n, c))
    for i in range(n):
        pix = logits[i].reshape(c, -1).T.astype(np.float64)  # (P, C)
        p = np_softmax(pix)
        h_bits = -(p * np.log2(p)).sum(axis=1)
        labels = p.argmax(axis=1)
        for cls in range(c):
            regions = np.flatnonzero(labels == cls)
            counts[i, cls] = regions.size
            if regions.size:
                w = h_bits[regions] + eps
                mixtures[i, cls] = (w[:, None] * p[regions]).sum(axis=0) / w.sum()
        mean_entropy[i] = (h_bits * math.log(2)).mean()
        probs[i] = p.mean(axis=0)
    return mixtures, counts, mean_entropy, probs


def test_segmentation_cdal_summaries_match_numpy_eq1(tmp_path):
    from alselect.infer.summaries import CDAL_ENTROPY_EPS

    out = tmp_path / "seg.h5"
    infer_ok(out, "--model", f"{FX}:seg_model", "--data", f"{FX}:seg_data", "--task", "segmentation",
             "--batch-size", "4")
    model = fx.seg_model().eval()
    x = fx.seg_images()
    with torch.no_grad():
        logits = model(x)["out"].numpy()
        feats = model.backbone(x).mean(dim=(2, 3)).numpy()
    mix_ref, counts_ref, ent_ref, probs_ref = cdal_reference(logits, CDAL_ENTROPY_EPS)
    assert (counts_ref == 0).any() and (counts_ref > 0).sum(axis=1).max() > 1  # absent and several present classes
    with alselect.open_pool(out) as pool:  # a valid version-2 pool
        assert pool.version == 2 and pool.problems() == []
    with h5py.File(out, "r") as f:
        assert int(f.attrs["format_version"]) == 2
        assert f["cd/mixtures"].dtype == np.float32 and f["cd/mixtures"].shape == (10, 4, 4)
        np.testing.assert_allclose(f["cd/mixtures"][()], mix_ref, atol=2e-6)
        assert f["cd/present"].dtype == np.uint8
        np.testing.assert_array_equal(f["cd/present"][()], (counts_ref > 0).astype(np.uint8))
        assert f["cd/counts"].dtype == np.int64
        np.testing.assert_array_equal(f["cd/counts"][()], counts_ref)
        np.testing.assert_allclose(f["scores/mean_entropy"][()], ent_ref, rtol=1e-5)
        np.testing.assert_allclose(f["probs"][()], probs_ref, atol=1e-6)
        np.testing.assert_allclose(f["embeddings"][()], feats, atol=1e-5)


# ------------------------------------------------------------------------------------- detection
def test_detection_ragged_regions(tmp_path):
    from alselect.infer.summaries import CDAL_ENTROPY_EPS

    out = tmp_path / "det.h5"
    infer_ok(out, "--model", f"{FX}:det_model", "--data", f"{FX}:det_data", "--task", "detection",
             "--batch-size", "4")
    model = fx.det_model().eval()
    with torch.no_grad():
        outputs = model(fx.det_inputs())
    parts = [(o["probs"], o["features"], o["boxes"]) if isinstance(o, dict) else o for o in outputs]
    counts = [p.shape[0] for p, _, _ in parts]
    assert counts[0] == 0 and max(counts) == 3
    with alselect.open_pool(out) as pool:  # a valid version-2 pool
        assert pool.version == 2 and pool.problems() == []
    with h5py.File(out, "r") as f:
        assert int(f.attrs["format_version"]) == 2
        offsets = f["regions/offsets"][()]
        np.testing.assert_array_equal(offsets, np.concatenate([[0], np.cumsum(counts)]))
        assert f["regions/offsets"].dtype == np.int64
        assert f["regions/probs"].maxshape == (None, fx.DET_CLASSES)
        np.testing.assert_allclose(f["regions/probs"][()], torch.cat([p for p, _, _ in parts]).numpy(), atol=1e-6)
        np.testing.assert_allclose(f["regions/features"][()], torch.cat([q for _, q, _ in parts]).numpy(), atol=1e-6)
        np.testing.assert_allclose(f["regions/boxes"][()], torch.cat([b for _, _, b in parts]).numpy())
        assert f["regions/boxes"].dtype == np.float32
        probs = f["probs"][()]
    for i, (p, _, _) in enumerate(parts):
        p = p.double().numpy()
        if len(p) == 0:
            np.testing.assert_allclose(probs[i], 1.0 / fx.DET_CLASSES)
            continue
        w = -(p * np.log2(p)).sum(axis=1) + CDAL_ENTROPY_EPS
        np.testing.assert_allclose(probs[i], (w[:, None] * p).sum(0) / w.sum(), atol=1e-6)


# ------------------------------------------------------------------------------------- atomicity
def test_failure_midway_leaves_no_pool_and_keeps_existing(tmp_path):
    out = tmp_path / "pool.h5"
    line = infer_error("--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_fail_midway", "--batch-size", "16",
                       out=out)
    assert "disk on fire" in line or "RuntimeError" in line
    assert not out.exists()
    write_pool(out, probs=np.full((3, 2), 0.5, dtype=np.float32))
    before = out.read_bytes()
    infer_error("--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_fail_midway", "--batch-size", "16", "--update",
                out=out)
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["pool.h5"]  # no temporary file left behind


# ------------------------------------------------------------------------- the loop's state
def test_infer_keeps_recorded_epochs_labels_and_history(tmp_path):
    """infer rewrites the model outputs only: what was recorded or labeled survives it."""
    out = tmp_path / "pool.h5"
    n = fx.N_DIGITS
    rng = np.random.default_rng(0)
    epochs = rng.integers(0, 10, size=(4, n)).astype(np.int16)
    labels = np.full(n, -1)
    labels[:7] = 3
    write_pool(out, probs=np.full((n, 10), 0.1, dtype=np.float32), epoch_preds=epochs, labels=labels, labeled=[9],
               truth=rng.integers(0, 10, size=n))
    from alselect.labeling import apply_labels, parse_label_text, read_history

    apply_labels(out, parse_label_text("row,label\n11,4\n"))
    before = out.read_bytes()
    line = infer_error("--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", out=out)
    assert "already holds model outputs" in line and "--update" in line
    assert out.read_bytes() == before
    infer_ok(out, "--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--update")
    probs, _ = digits_reference()
    with open_pool(out) as pool:
        np.testing.assert_allclose(pool.read("probs"), probs, atol=1e-6)
        np.testing.assert_array_equal(pool.read("epoch_preds"), epochs)
        assert pool.read("labels")[11] == 4 and (pool.read("labels")[:7] == 3).all()
        assert set(pool.labeled_rows().tolist()) == set(range(7)) | {9, 11}
        assert pool.has("truth")
    assert read_history(str(out)).rows.tolist() == [11]


def test_infer_extends_an_epochs_only_file_and_takes_labels(tmp_path):
    out = tmp_path / "pool.h5"
    n = fx.N_DIGITS
    epochs = np.arange(3 * n).reshape(3, n).astype(np.int16) % 10
    with h5py.File(out, "w") as f:  # what a recorder leaves when no pool existed yet
        f.attrs["format"] = "alselect-pool"
        f.attrs["format_version"] = 1
        f.create_dataset("epoch_preds", data=epochs, maxshape=(None, n))
    labels = np.full(n, -1)
    labels[[2, 5]] = [1, 7]
    np.save(tmp_path / "y.npy", labels)
    (tmp_path / "labeled.txt").write_text("2\n5\n")
    infer_ok(out, "--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--labels", str(tmp_path / "y.npy"),
             "--labeled", str(tmp_path / "labeled.txt"))
    with open_pool(out) as pool:
        np.testing.assert_array_equal(pool.read("epoch_preds"), epochs)
        assert pool.labeled_rows().tolist() == [2, 5] and pool.read("labels")[5] == 7
    np.save(tmp_path / "short.npy", labels[:5])
    line = infer_error("--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--update", "--labels",
                       str(tmp_path / "short.npy"), out=tmp_path / "other.h5")
    assert "--labels holds 5 labels" in line


def test_infer_refuses_to_overwrite_a_foreign_file(tmp_path):
    out = tmp_path / "notes.h5"
    with h5py.File(out, "w") as f:
        f["x"] = [1, 2, 3]
    before = out.read_bytes()
    line = infer_error("--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--update", out=out)
    assert "not an alselect pool" in line
    assert out.read_bytes() == before


# ---------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("args, match", [
    (["--model", "nodots", "--data", f"{FX}:digits_data"], "expects PKG.MODULE:FACTORY"),
    (["--model", "no_such_module_xyz:f", "--data", f"{FX}:digits_data"], "cannot import module 'no_such_module_xyz'"),
    (["--model", f"{FX}:digits_mpl", "--data", f"{FX}:digits_data"], "did you mean 'digits_mlp'"),
    (["--model", f"{FX}:broken_factory", "--data", f"{FX}:digits_data"],
     "factory 'torch_fixtures:broken_factory' raised RuntimeError: weights server unreachable"),
    (["--model", f"{FX}:not_a_model", "--data", f"{FX}:digits_data"], "returned a int; it must return a torch.nn.Module"),
    (["--model", f"{FX}:digits_mlp", "--data", f"{FX}:not_a_dataset"], "returned a list; it must return a torch.utils.data.Dataset"),
    (["--model", f"{FX}:digits_mlp", "--data", f"{FX}:wrong_items"], "yields dict inputs"),
    (["--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--embedding-layer", "fc2"],
     r"--embedding-layer 'fc2' is not a layer of the model.*its layers are: 0, 1, 2, 3"),
    (["--model", f"{FX}:seg_model", "--data", f"{FX}:seg_data", "--task", "segmentation",
      "--embedding-layer", "haed"], r"closest: 'head'"),
    (["--model", f"{FX}:digits_mlp_no_dropout", "--data", f"{FX}:digits_data", "--mc-samples", "2"],
     "needs dropout layers"),
    (["--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data_with_labels"],
     r"holds id .* times; ids must be unique.*\(input, label\)"),
    (["--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_loader_shuffled"], "shuffles"),
    (["--model", f"{FX}:seg_model", "--data", f"{FX}:seg_data"], r"\(B, C\).*use --task segmentation"),
    (["--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--weights", "missing.pt"], "does not exist"),
    (["--model", f"{FX}:digits_mlp", "--data", "/nonexistent/dir/"], "neither an existing folder of .npy arrays nor"),
])
def test_cli_errors(tmp_path, monkeypatch, args, match):
    monkeypatch.chdir(tmp_path)
    import re

    line = infer_error(*args, out=tmp_path / "pool.h5")
    assert re.search(match, line), line
    assert not (tmp_path / "pool.h5").exists()


def test_weights_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, bad)
    line = infer_error("--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--weights", str(bad))
    assert "does not match the model" in line and "missing" in line and "unexpected (e.g. 'fc.weight')" in line
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    line = infer_error("--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--weights", str(junk))
    assert "cannot be loaded safely with torch.load(weights_only=True)" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_clear_error():
    line = infer_error("--model", f"{FX}:digits_mlp", "--data", f"{FX}:digits_data", "--device", "cuda")
    assert re_search(r"--device cuda was requested but .*; use --device cpu", line)


def re_search(pattern, text):
    import re

    return re.search(pattern, text) is not None


def test_cli_and_pick_never_import_torch(tmp_path):
    pool = tmp_path / "p.h5"
    write_pool(pool, probs=np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]], dtype=np.float32))
    code = (
        "import sys\n"
        "import alselect.cli\n"
        "assert 'torch' not in sys.modules, 'import alselect.cli imported torch'\n"
        "from click.testing import CliRunner\n"
        f"r = CliRunner().invoke(alselect.cli.cli, ['pick', {str(pool)!r}, '-s', 'least-confidence', '-b', '1'])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(alselect.cli.cli, ['infer', '--help'])\n"
        "assert r.exit_code == 0 and '--mc-samples' in r.output, r.output\n"
        "assert 'torch' not in sys.modules, 'pick or infer --help imported torch'\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


# -------------------------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(tmp_path):
    cpu, gpu = tmp_path / "cpu.h5", tmp_path / "gpu.h5"
    infer_ok(cpu, "--model", f"{FX}:seg_model", "--data", f"{FX}:seg_data", "--task", "segmentation", "--device", "cpu")
    infer_ok(gpu, "--model", f"{FX}:seg_model", "--data", f"{FX}:seg_data", "--task", "segmentation", "--device", "cuda")
    with h5py.File(cpu, "r") as a, h5py.File(gpu, "r") as b:
        for name in ("probs", "cd/mixtures", "scores/mean_entropy", "embeddings"):
            np.testing.assert_allclose(a[name][()], b[name][()], atol=1e-4)
        np.testing.assert_array_equal(a["cd/counts"][()], b["cd/counts"][()])
