"""Every bad input gets one clear 'Error: ...' line, a non-zero exit, and leaves outputs untouched."""

import os

import h5py
import numpy as np
import pytest

import alselect
from alselect.errors import AlselectError, MissingDatasetError, PoolFormatError, SelectionError
from clihelp import assert_clean_error, run
from conftest import random_probs

OLD = "previous output\n"


@pytest.fixture
def out(tmp_path):
    path = tmp_path / "existing.txt"
    path.write_text(OLD)
    return path


def pick_fails(pool, *args, out, fragments=()):
    result = run("pick", pool, "-s", "entropy", "-b", 2, "-o", out, *args)
    line = assert_clean_error(result, *fragments)
    assert out.read_text() == OLD  # never overwritten
    assert not any(p.name.startswith(".existing.txt") for p in out.parent.iterdir())  # no temp left behind
    return line


@pytest.fixture
def good_pool(make_pool, rng):
    return make_pool(probs=random_probs(rng, 20, 3), ids=np.arange(100, 120), labeled=[0])


def edit_pool(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


# ------------------------------------------------------------------ files that are not pools
def test_missing_file(tmp_path, out):
    pick_fails(tmp_path / "nope.h5", out=out, fragments=["not found", "alselect pack"])


def test_not_hdf5(tmp_path, out):
    bad = tmp_path / "text.h5"
    bad.write_text("hello")
    pick_fails(bad, out=out, fragments=["not an HDF5 file"])


def test_hdf5_without_stamp(tmp_path, out):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["probs"] = np.full((3, 2), 0.5)
    pick_fails(foreign, out=out, fragments=["not an alselect pool", "alselect pack"])


def test_newer_format_version(good_pool, out):
    edit_pool(good_pool, lambda f: f.attrs.__setitem__("format_version", 99))
    pick_fails(good_pool, out=out, fragments=["version 99", "upgrade alselect"])


def test_truncated_file(good_pool, tmp_path, out):
    data = open(good_pool, "rb").read()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    pick_fails(cut, out=out, fragments=["truncated or corrupt"])


# ------------------------------------------------------------------ bad values in a pool file
@pytest.mark.parametrize("value,fragment", [
    (np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (-0.2, "negative probability"), (0.9, "sums to"),
])
def test_bad_probabilities_in_pool(good_pool, out, value, fragment):
    def poison(f):
        p = f["probs"][()]
        p[4, 1] = value
        f["probs"][...] = p

    edit_pool(good_pool, poison)
    pick_fails(good_pool, out=out, fragments=[fragment, "row 4", "'probs'"])
    result = run("inspect", good_pool)
    assert result.exit_code != 0 and fragment in result.stdout
    assert result.stderr.startswith("Error: pool") and "1 problem" in result.stderr


def test_shape_mismatch_in_pool(good_pool, out):
    edit_pool(good_pool, lambda f: f.create_dataset("embeddings", data=np.zeros((19, 2), np.float32)))
    pick_fails(good_pool, out=out, fragments=["'embeddings'", "(19, 2)", "expected"])


def test_duplicate_ids_in_pool(good_pool, out):
    def dup(f):
        ids = f["ids"][()]
        ids[3] = ids[2]
        f["ids"][...] = ids

    edit_pool(good_pool, dup)
    pick_fails(good_pool, "--ids", out=out, fragments=["id 102", "unique"])


def test_pool_labeled_list_out_of_range(good_pool, out):
    edit_pool(good_pool, lambda f: f["labeled"].__setitem__(0, 20))
    pick_fails(good_pool, out=out, fragments=["row 20", "0..19"])


def test_lazy_reads_do_not_touch_unneeded_data(make_pool, rng, out):
    """A broken embeddings dataset does not stop a probs-only strategy, but inspect reports it."""
    path = make_pool(probs=random_probs(rng, 20, 3), embeddings=np.zeros((20, 2), np.float32))
    edit_pool(path, lambda f: f["embeddings"].__setitem__((5, 0), np.nan))
    assert run("pick", path, "-s", "entropy", "-b", 2).exit_code == 0
    result = run("inspect", path)
    assert result.exit_code != 0 and "'embeddings' has a NaN" in result.stdout


# ------------------------------------------------------------------ bad requests
@pytest.mark.parametrize("budget,fragment", [(0, "must be > 0"), (-3, "must be > 0"), (20, "exceeds the 19 unlabeled"),
                                             (2.5, "must be an integer")])
def test_bad_budget(good_pool, out, budget, fragment):
    result = run("pick", good_pool, "-s", "entropy", "-b", budget, "-o", out)
    assert_clean_error(result, fragment)
    assert out.read_text() == OLD


def test_labeled_out_of_range_duplicate_unknown_id(good_pool, tmp_path, out):
    lab = tmp_path / "lab.txt"
    lab.write_text("3\n25\n")
    pick_fails(good_pool, "--labeled", lab, out=out, fragments=["row 25", "outside"])
    lab.write_text("3\n3\n")
    pick_fails(good_pool, "--labeled", lab, out=out, fragments=["row 3 more than once"])
    lab.write_text("101\n999\n")
    pick_fails(good_pool, "--ids", "--labeled", lab, out=out, fragments=["id '999' is not in the pool"])
    lab.write_text("abc\n")
    pick_fails(good_pool, "--labeled", lab, out=out, fragments=["not a row number", "--ids"])
    pick_fails(good_pool, "--labeled", tmp_path / "none.txt", out=out, fragments=["not found"])


def test_unknown_strategy_and_parameter(good_pool, out):
    result = run("pick", good_pool, "-s", "entropi", "-b", 2, "-o", out)
    assert_clean_error(result, "unknown strategy 'entropi'", "did you mean 'entropy'")
    result = run("pick", good_pool, "-s", "entropy", "-b", 2, "-p", "tau=2", "-o", out)
    assert_clean_error(result, "has no parameter 'tau'")
    result = run("pick", good_pool, "-s", "score", "-b", 2, "-p", "order=up", "-o", out)
    assert_clean_error(result, "must be one of: desc, asc")
    result = run("pick", good_pool, "-s", "entropy", "-b", 2, "-p", "novalue", "-o", out)
    assert_clean_error(result, "KEY=VALUE")
    assert out.read_text() == OLD


@pytest.mark.parametrize("strategy,dataset,how", [
    ("bald", "mc_probs", "--mc-probs"), ("variation-ratio", "mc_probs", "--mc-probs"),
    ("dispersion", "epoch_preds", "--epoch-preds"), ("score", "scores", "--scores"),
])
def test_missing_dataset_names_it_and_how_to_add_it(good_pool, out, strategy, dataset, how):
    result = run("pick", good_pool, "-s", strategy, "-b", 2, "-o", out)
    assert_clean_error(result, dataset, how)


def test_budget_cost_without_cost_dataset(good_pool, out):
    result = run("pick", good_pool, "-s", "entropy", "-b", 2, "--budget-cost", "-o", out)
    assert_clean_error(result, "'cost'", "--cost")


# ------------------------------------------------------------------ pack refuses bad arrays
@pytest.fixture
def arrays_dir(tmp_path, rng):
    np.save(tmp_path / "p.npy", random_probs(rng, 10, 3))
    return tmp_path


def pack_fails(arrays_dir, *args, fragments=()):
    target = arrays_dir / "pool.h5"
    target.write_text(OLD)
    result = run("pack", "-o", target, *args)
    assert_clean_error(result, *fragments)
    assert target.read_text() == OLD
    assert [p.name for p in arrays_dir.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("mutate,fragment", [
    (lambda p: p.__setitem__((2, 0), np.nan), "NaN or infinite"),
    (lambda p: p.__setitem__((2, 0), np.inf), "NaN or infinite"),
    (lambda p: p.__setitem__((2, slice(None)), [-0.5, 1.0, 0.5]), "negative probability"),
    (lambda p: p.__setitem__((2, slice(None)), [0.5, 0.4, 0.3]), "sums to 1.2"),
])
def test_pack_rejects_bad_probabilities(arrays_dir, mutate, fragment):
    p = np.load(arrays_dir / "p.npy")
    mutate(p)
    np.save(arrays_dir / "bad.npy", p)
    pack_fails(arrays_dir, "--probs", arrays_dir / "bad.npy", fragments=[fragment, "row 2"])


def test_pack_rejects_shape_mismatch_and_duplicates(arrays_dir, rng):
    d = arrays_dir
    np.save(d / "e.npy", np.zeros((9, 2), np.float32))
    pack_fails(d, "--probs", d / "p.npy", "--embeddings", d / "e.npy", fragments=["(9, 2)", "N=10"])
    np.save(d / "m.npy", random_probs(rng, 20, 4).reshape(10, 2, 4))
    pack_fails(d, "--probs", d / "p.npy", "--mc-probs", d / "m.npy", fragments=["mc_probs", "C=3"])
    np.save(d / "t.npy", np.zeros((3, 10), np.int64) + 3)
    pack_fails(d, "--probs", d / "p.npy", "--epoch-preds", d / "t.npy", fragments=["label 3", "[0, 2]"])
    (d / "ids.txt").write_text("a\nb\na\n" + "".join(f"x{i}\n" for i in range(7)))
    pack_fails(d, "--probs", d / "p.npy", "--ids", d / "ids.txt", fragments=["id 'a' 2 times"])
    (d / "lab.txt").write_text("1\n1\n")
    pack_fails(d, "--probs", d / "p.npy", "--labeled", d / "lab.txt", fragments=["row 1 more than once"])
    (d / "lab.txt").write_text("10\n")
    pack_fails(d, "--probs", d / "p.npy", "--labeled", d / "lab.txt", fragments=["row 10", "outside"])
    np.save(d / "c.npy", np.array([1.0] * 9 + [0.0]))
    pack_fails(d, "--probs", d / "p.npy", "--cost", d / "c.npy", fragments=["costs must be > 0"])
    (d / "names.txt").write_text("a\nb\n")
    pack_fails(d, "--probs", d / "p.npy", "--class-names", d / "names.txt", fragments=["class_names", "C=3"])


def test_pack_needs_probabilities_and_readable_arrays(arrays_dir):
    d = arrays_dir
    pack_fails(d, "--embeddings", d / "p.npy", fragments=["--probs", "--logits"])
    pack_fails(d, "--probs", d / "missing.npy", fragments=["not found"])
    (d / "junk.npy").write_text("junk")
    pack_fails(d, "--probs", d / "junk.npy", fragments=["not a readable"])
    np.savez(d / "two.npz", a=np.zeros(2), b=np.zeros(2))
    pack_fails(d, "--probs", d / "two.npz", fragments=["holds 2 arrays", ":KEY"])
    pack_fails(d, "--probs", f"{d / 'two.npz'}:c", fragments=["no array 'c'"])
    np.save(d / "i.npy", np.ones((10, 3), np.int64))
    pack_fails(d, "--probs", d / "i.npy", fragments=["dtype int64", "float"])


# ------------------------------------------------------------------ the Python API raises typed errors
def test_api_raises_typed_errors(good_pool, tmp_path):
    with pytest.raises(PoolFormatError, match="not found"):
        alselect.select(tmp_path / "x.h5", "entropy", 1)
    with pytest.raises(MissingDatasetError, match=r"needs dataset 'mc_probs'.*--mc-probs"):
        alselect.select(good_pool, "bald", 1)
    with pytest.raises(SelectionError, match="exceeds the 19 unlabeled"):
        alselect.select(good_pool, "entropy", 20)
    with pytest.raises(SelectionError, match="outside the pool's rows"):
        alselect.select(good_pool, "entropy", 1, labeled=[-1])
    with pytest.raises(SelectionError, match="seed must be an integer from 0 to 4294967295"):
        alselect.select(good_pool, "random", 1, seed=-2)
    for seed in (2**32, 2**64, 10**23):  # beyond the 32 bits the row keys hash: an OverflowError once
        with pytest.raises(SelectionError, match="seed must be an integer from 0 to 4294967295"):
            alselect.select(good_pool, "random", 1, seed=seed)
    assert alselect.select(good_pool, "random", 1, seed=2**32 - 1).indices.size == 1
    with pytest.raises(AlselectError, match="every sample in the pool is already labeled"):
        alselect.select(good_pool, "entropy", 1, labeled=np.arange(1, 20))
    with pytest.raises(ValueError):  # AlselectError is a ValueError
        alselect.select(good_pool, "nope", 1)


def test_seed_beyond_32_bits_is_one_error_line(good_pool):
    assert_clean_error(run("pick", good_pool, "-s", "random", "-b", 2, "--seed", 10**23),
                       "seed must be an integer from 0 to 4294967295")


@pytest.mark.parametrize("args, fragment", [
    (["-b", "0x10"], "Invalid value for '-b' / '--budget'"),
    (["-b", "2", "--seed", "-5"], "Invalid value for '--seed'"),
    (["-b", "2", "--format", "xml"], "Invalid value for '--format'"),
    (["-b", "2", "--budget-cost", "3"], "unexpected extra argument"),
    (["-b", "2", "--bogus"], "No such option '--bogus'"),
])
def test_usage_errors_are_one_error_line_with_status_1(good_pool, args, fragment):
    result = run("pick", good_pool, "-s", "entropy", *args)
    assert result.exit_code == 1
    assert assert_clean_error(result, fragment).endswith(" pick --help`")  # CliRunner names the program "cli"


def test_binary_or_endless_text_input_is_refused_without_reading_it_all(good_pool, tmp_path):
    """--labeled /dev/zero read everything into memory until the process was killed."""
    if os.path.exists("/dev/zero"):
        assert_clean_error(run("pick", good_pool, "-s", "entropy", "-b", 2, "--labeled", "/dev/zero"),
                           "is not a text file (a NUL byte at byte 0)")
    (tmp_path / "long.txt").write_text("1" * (2 << 20))
    assert_clean_error(run("pick", good_pool, "-s", "entropy", "-b", 2, "--labeled", tmp_path / "long.txt"),
                       "has a line longer than 1 MiB")
    (tmp_path / "ok.txt").write_text("0\n1\n# comment\n")
    assert run("pick", good_pool, "-s", "entropy", "-b", 2, "--labeled", tmp_path / "ok.txt").exit_code == 0
