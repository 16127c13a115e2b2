"""The executable format spec: one table that the docs, the writer, the reader and `pack` follow,
element encodings, and the reader's refusals of bad files (links, claimed sizes, ids, empty axes)."""

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import alselect
from alselect import validation
from alselect.errors import InvalidInputError, MissingDatasetError, PoolFormatError, PoolNotFoundError, PoolValueError
from alselect.pool import write_pool
from alselect.pool.spec import (ATTR_ELEMENT_VERSION, ATTR_ENCODING_TYPE, BY_ARG, DATASETS, DTYPE_RULES,
                                dataset_spec, match_dims)
from clihelp import assert_clean_error, run
from conftest import ROOT, random_probs


def test_docs_table_is_generated_from_the_spec():
    script = os.path.join(ROOT, "docs", "generate_format_docs.py")
    result = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = open(os.path.join(ROOT, "docs", "file-format.md"), encoding="utf-8").read()
    for spec in DATASETS.values():
        assert f"| `{spec.name}` | {spec.shape} |" in text


def test_every_row_is_complete_and_resolves():
    pack_help = run("pack", "--help").stdout
    for spec in DATASETS.values():
        assert spec.dtype in DTYPE_RULES, spec.name
        assert spec.check is None or callable(getattr(validation, spec.check)), spec.name
        assert 0 <= spec.axis < len(spec.dims), spec.name
        assert spec.version >= 1 and spec.element_version >= 1
        assert all(r in DATASETS for r in spec.requires), spec.name
        assert BY_ARG[spec.arg] is spec
        if spec.flag:
            assert spec.flag in pack_help, spec.flag
    assert {s.arg for s in DATASETS.values()} >= {"probs", "logits", "regions_probs", "cd_mixtures", "scores"}


def test_symbolic_dims():
    spec = dataset_spec("regions/boxes")
    sizes = {"N": 3, "C": 2}
    assert match_dims(spec, (5, 4), sizes, ("N", "C", "R")) is None and sizes["R"] == 5
    assert match_dims(spec, (6, 4), sizes, ("N", "C", "R")) == "(R=5, 4)"
    assert match_dims(dataset_spec("mc_probs"), (3, 0, 2), {"N": 3, "C": 2}, ("N", "C")) == "(N=3, T, C=2)"
    assert match_dims(dataset_spec("regions/offsets"), (4,), {"N": 3, "C": 2}, ("N",)) is None


def test_adding_a_dataset_is_one_row(tmp_path):
    """A new row makes a `pack` option, a write_pool keyword, shape checks and value checks."""
    code = textwrap.dedent(f"""
        import numpy as np
        from alselect.pool import spec
        row = spec._row("quality", ("N",), "float", "check_nonnegative", "image quality", "`alselect pack --quality Q.npy`",
                        flag=True, metavar="Q.npy", help="Image quality (N,).")
        spec.DATASETS[row.name] = row
        spec.BY_ARG[row.arg] = row
        from click.testing import CliRunner
        from alselect.cli import cli
        import alselect
        np.save({str(tmp_path / 'p.npy')!r}, np.full((4, 2), 0.5))
        np.save({str(tmp_path / 'q.npy')!r}, np.arange(4.0))
        r = CliRunner().invoke(cli, ["pack", "-o", {str(tmp_path / 'a.h5')!r}, "--probs", {str(tmp_path / 'p.npy')!r},
                                     "--quality", {str(tmp_path / 'q.npy')!r}])
        assert r.exit_code == 0, r.output
        with alselect.open_pool({str(tmp_path / 'a.h5')!r}) as pool:
            assert pool.read("quality").tolist() == [0, 1, 2, 3]
        np.save({str(tmp_path / 'q.npy')!r}, -np.arange(4.0))
        r = CliRunner().invoke(cli, ["pack", "-o", {str(tmp_path / 'b.h5')!r}, "--probs", {str(tmp_path / 'p.npy')!r},
                                     "--quality", {str(tmp_path / 'q.npy')!r}])
        assert r.exit_code == 1 and "negative value" in r.output, r.output
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "ok", result.stderr


def test_writer_stamps_every_dataset_once(full_pool):
    with h5py.File(full_pool, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in names:
            spec = dataset_spec(name)
            assert f[name].attrs[ATTR_ENCODING_TYPE] == spec.encoding, name
            assert f[name].attrs[ATTR_ELEMENT_VERSION] == spec.element_version, name
        assert f["epoch_preds"].maxshape[0] is None  # growable, from the table


def test_epoch_recorder_stamps_from_the_table(make_pool, rng):
    from alselect.record import EpochRecorder

    path = make_pool(probs=random_probs(rng, 6, 3))
    EpochRecorder(path, store_probs=True).record(random_probs(rng, 6, 3))
    with h5py.File(path, "r") as f:
        for name in ("epoch_preds", "epoch_probs"):
            assert f[name].attrs[ATTR_ENCODING_TYPE] == "array"
            assert f[name].attrs[ATTR_ELEMENT_VERSION] == 1


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


@pytest.mark.parametrize("edit,fragment", [
    (lambda f: f["probs"].attrs.__setitem__(ATTR_ELEMENT_VERSION, 2), "element version 2, newer"),
    (lambda f: f["probs"].attrs.__setitem__(ATTR_ENCODING_TYPE, "sparse-csr"), "encoding type 'sparse-csr'"),
    (lambda f: f["probs"].attrs.__setitem__(ATTR_ELEMENT_VERSION, np.array([1, 2])), "must be one integer"),
    (lambda f: f.attrs.__setitem__("format_version", np.inf), "must be one integer"),
    (lambda f: f.attrs.__setitem__("format_version", np.array([1, 1])), "must be one integer"),
    (lambda f: f.attrs.__setitem__("format", b"\xff"), "not an alselect pool"),
])
def test_element_and_container_attributes_are_checked(make_pool, rng, edit, fragment):
    path = _edit(make_pool(probs=random_probs(rng, 5, 2)), edit)
    with pytest.raises(PoolFormatError, match=None) as info:
        alselect.open_pool(path)
    assert fragment in str(info.value)


def test_missing_encoding_attributes_read_as_version_1(make_pool, rng):
    def strip(f):
        for key in (ATTR_ELEMENT_VERSION, ATTR_ENCODING_TYPE):
            del f["probs"].attrs[key]
    path = _edit(make_pool(probs=random_probs(rng, 5, 2)), strip)
    with alselect.open_pool(path) as pool:
        assert pool.problems() == []


@pytest.fixture
def other_pool(tmp_path, rng):
    path = tmp_path / "other.h5"
    write_pool(path, probs=random_probs(rng, 5, 2))
    return str(path)


def _soft_loop(f):
    del f["probs"]
    f["probs"] = h5py.SoftLink("/probs")


def _external(target):
    def edit(f):
        del f["probs"]
        f["probs"] = h5py.ExternalLink(target, "/probs")
    return edit


def _virtual(target):
    def edit(f):
        del f["probs"]
        layout = h5py.VirtualLayout(shape=(5, 2), dtype=np.float32)
        layout[...] = h5py.VirtualSource(target, "probs", shape=(5, 2))
        f.create_virtual_dataset("probs", layout)
    return edit


def _external_storage(tmp):
    def edit(f):
        raw = os.path.join(tmp, "raw.bin")
        np.full((5, 2), 0.5, dtype=np.float32).tofile(raw)
        del f["probs"]
        f.create_dataset("probs", shape=(5, 2), dtype=np.float32, external=[(raw, 0, 40)])
    return edit


def test_links_and_foreign_storage_are_refused(make_pool, rng, other_pool, tmp_path):
    cases = [(_soft_loop, "soft link"), (_external(other_pool), "external link"),
             (_virtual(other_pool), "virtual dataset"), (_external_storage(str(tmp_path)), "external files")]
    for edit, fragment in cases:
        path = _edit(make_pool(probs=random_probs(rng, 5, 2)), edit)
        with pytest.raises(PoolFormatError, match=fragment):
            alselect.open_pool(path)
        assert_clean_error(run("inspect", path), fragment)


def test_unknown_links_are_listed_not_followed(make_pool, rng, other_pool):
    path = _edit(make_pool(probs=random_probs(rng, 5, 2)),
                 lambda f: f.__setitem__("x-elsewhere", h5py.ExternalLink(other_pool, "/probs")))
    out = run("inspect", path).stdout
    assert "x-elsewhere" in out and "external link; not followed" in out and "validation: OK" in out


@pytest.mark.parametrize("name,rows", [("probs", 10**12), ("embeddings", 10**10), ("labeled", 10**11)])
def test_enormous_claimed_shapes_are_refused_before_reading(make_pool, rng, name, rows):
    def edit(f):
        shape = (rows,) + f[name].shape[1:]
        dtype = f[name].dtype
        del f[name]
        f.create_dataset(name, shape=shape, dtype=dtype, chunks=(1024,) + shape[1:])
    n = 6
    path = _edit(make_pool(probs=random_probs(rng, n, 2), embeddings=rng.normal(size=(n, 3)), labeled=[1]), edit)
    with pytest.raises(PoolFormatError, match="claims shape|expected") as info:
        alselect.open_pool(path)
    assert name in str(info.value)


def test_truncated_and_missing_files(make_pool, rng, tmp_path):
    path = make_pool(probs=random_probs(rng, 50, 3), embeddings=rng.normal(size=(50, 8)))
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) - 500)
    with pytest.raises(PoolFormatError, match="truncated or corrupt"):
        alselect.open_pool(path)
    with pytest.raises(PoolNotFoundError):
        alselect.open_pool(tmp_path / "absent.h5")


@pytest.mark.parametrize("bad", ["", "#a", "a\nb", "a\tb", " a", "x\u2028y"])
def test_ids_that_cannot_round_trip_are_refused_on_write_and_read(make_pool, rng, bad, tmp_path):
    ids = np.array(["s0", "s1", bad, "s3"], dtype=object)
    with pytest.raises(PoolValueError, match="entry 2"):
        write_pool(tmp_path / "w.h5", probs=random_probs(rng, 4, 2), ids=ids)

    def edit(f):
        f.create_dataset("ids", data=ids, dtype=h5py.string_dtype())
    path = _edit(make_pool(probs=random_probs(rng, 4, 2)), edit)
    with alselect.open_pool(path) as pool:
        with pytest.raises(PoolValueError, match="entry 2"):
            pool.ids()
        assert any("entry 2" in p for p in pool.problems())
    out = tmp_path / "picks.txt"
    assert_clean_error(run("pick", path, "-s", "entropy", "-b", "1", "--ids", "-o", out), "entry 2")
    assert not out.exists()


def test_non_utf8_ids_are_refused(make_pool, rng):
    def edit(f):
        f.create_dataset("ids", data=np.array([b"a", b"b", b"\xff\xfe"], dtype=object), dtype=h5py.string_dtype("ascii"))
    path = _edit(make_pool(probs=random_probs(rng, 3, 2)), edit)
    with alselect.open_pool(path) as pool:
        with pytest.raises(PoolValueError, match="not valid UTF-8"):
            pool.ids()


def test_pack_reads_id_lists_literally(tmp_path, rng):
    np.save(tmp_path / "p.npy", random_probs(rng, 3, 2))
    (tmp_path / "ids.txt").write_text("a\n#b\nc\n")
    assert_clean_error(run("pack", "-o", tmp_path / "x.h5", "--probs", tmp_path / "p.npy", "--ids", tmp_path / "ids.txt"),
                       "'#b'")
    (tmp_path / "ids.txt").write_bytes(b"a\nb\n\xff\n")
    assert_clean_error(run("pack", "-o", tmp_path / "x.h5", "--probs", tmp_path / "p.npy", "--ids", tmp_path / "ids.txt"),
                       "not UTF-8")
    assert not (tmp_path / "x.h5").exists()


def test_empty_member_and_epoch_axes_are_errors_not_empty_picks(make_pool, rng):
    n = 6
    path = make_pool(probs=random_probs(rng, n, 2))
    _edit(path, lambda f: f.create_dataset("mc_probs", shape=(n, 0, 2), dtype=np.float32))
    with pytest.raises(PoolFormatError, match="mc_probs"):
        alselect.open_pool(path)
    with pytest.raises(PoolValueError, match="mc_probs"):
        write_pool(path + ".x", probs=random_probs(rng, n, 2), mc_probs=np.zeros((n, 0, 2)))
    with pytest.raises(PoolValueError, match="epoch_preds"):
        write_pool(path + ".y", probs=random_probs(rng, n, 2), epoch_preds=np.zeros((0, n), dtype=int))
    path2 = make_pool(probs=random_probs(rng, n, 2))
    _edit(path2, lambda f: f.create_dataset("epoch_preds", shape=(0, n), maxshape=(None, n), dtype=np.int8))
    with pytest.raises(MissingDatasetError, match="no committed epoch"):
        alselect.select(path2, "dispersion", 2)


def test_corrupt_committed_epochs_attribute(make_pool, rng):
    path = make_pool(probs=random_probs(rng, 4, 2), epoch_preds=np.zeros((2, 4), dtype=int))
    for value in (np.nan, "a", -3, np.array([1, 2])):
        _edit(path, lambda f: f["epoch_preds"].attrs.__setitem__("committed_epochs", value))
        with pytest.raises(PoolFormatError, match="committed_epochs"):
            alselect.open_pool(path)


def test_keyword_and_pack_option_follow_the_path():
    """Dataset a/b is keyword a_b and `pack --a-b`, for every row; a named group is its name."""
    for spec in DATASETS.values():
        group, _, member = spec.name.partition("/")
        want = group if member == "<name>" else spec.name.replace("/", "_")
        assert spec.arg == want, spec.name
        assert spec.flag in (None, "--" + want.replace("_", "-")), spec.name
    assert {BY_ARG["cd_present"].name, BY_ARG["cd_counts"].name} == {"cd/present", "cd/counts"}


def test_earlier_spellings_are_errors_naming_the_new_ones(tmp_path):
    from alselect.pool import MemoryPool, write_pool
    from alselect.pool.spec import RENAMED_FLAGS, RENAMED_KEYWORDS

    probs = np.full((4, 2), 0.5, np.float32)
    for old, name in RENAMED_KEYWORDS.items():
        new = BY_ARG[name.replace("/", "_")].arg
        assert old not in BY_ARG
        with pytest.raises(InvalidInputError, match=f"'{old}' was renamed '{new}'"):
            write_pool(tmp_path / "p.h5", probs=probs, **{old: np.ones((4, 2))})
        with pytest.raises(InvalidInputError, match=f"'{old}' was renamed '{new}'"):
            MemoryPool({"probs": probs, old: np.ones((4, 2))})
    assert not (tmp_path / "p.h5").exists()
    np.save(tmp_path / "p.npy", probs)
    for old, name in RENAMED_FLAGS.items():
        new = dataset_spec(name).flag
        r = run("pack", "-o", tmp_path / "q.h5", "--probs", tmp_path / "p.npy", old, "x=y.npy")
        assert r.exit_code == 1 and r.stderr.strip() == (
            f"Error: {old} was renamed {new}: the pack option of dataset {name} is its path with '/' and '_' "
            "as '-' (alselect pack --help)"), (old, r.output)
    assert not (tmp_path / "q.h5").exists()
