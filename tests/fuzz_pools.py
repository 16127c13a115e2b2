"""Valid pool files and the mutations the fuzz test applies to them (tests/test_fuzz.py).

Every mutation takes the path of a valid pool, the hypothesis ``draw`` function and a scratch
directory, changes the file in place and returns a short description of what it did.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
from hypothesis import strategies as st

from alselect.pool import write_pool

FLOAT_NAMES = ("probs", "embeddings", "mc_probs", "epoch_probs", "cost", "scores/s", "logits", "regions/probs",
               "regions/weights", "regions/boxes", "cd/mixtures", "regions/scores", "regions/tracks", "motion/forward",
               "truth_boxes/boxes")
ALL_NAMES = FLOAT_NAMES + ("labels", "labeled", "ids", "truth", "epoch_preds", "class_names", "regions/offsets",
                           "cd/present", "cd/counts", "video/id", "video/frame", "regions/classes",
                           "truth_boxes/offsets", "truth_boxes/classes")


def _probs(rng, shape, dtype):
    return rng.dirichlet(np.full(shape[-1], 0.7), size=shape[:-1]).astype(dtype)


def build_base(draw, path: str) -> dict:
    """Write a valid pool of a drawn kind; return what it holds."""
    kind = draw(st.sampled_from(["v1", "v1", "logits", "regions", "cd", "video"]))
    seed = draw(st.integers(0, 2**16))
    if kind == "video":
        from alselect.synthetic_video import synthetic_video

        data = synthetic_video(n_videos=2, frames=(3, 6), objects=2, k=1, feature_dim=3,
                               motion_grid=draw(st.sampled_from([None, 240])), seed=seed)
        arrays = dict(data.arrays)
        write_pool(path, motion_stride=data.motion_stride, **arrays)
        return {"kind": kind, "n": int(np.shape(arrays.get("probs", arrays.get("logits")))[0])}
    rng = np.random.default_rng(seed)
    n = draw(st.integers(5, 24))
    c = draw(st.integers(2, 4))
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    labels = np.where(np.arange(n) < c, np.arange(n) % c, -1)
    arrays: dict = {"labels": labels}
    if kind == "logits":
        arrays["logits"] = rng.normal(size=(n, c)).astype(dtype)
    else:
        arrays["probs"] = _probs(rng, (n, c), dtype)
    if kind in ("v1", "logits"):
        arrays.update(embeddings=rng.normal(size=(n, 3)).astype(dtype),
                      mc_probs=_probs(rng, (n, 3, c), dtype),
                      epoch_preds=rng.integers(0, c, size=(3, n)),
                      epoch_probs=_probs(rng, (3, n, c), np.float32),
                      scores={"s": rng.random(n)}, cost=rng.uniform(0.5, 2, size=n),
                      truth=rng.integers(0, c, size=n), class_names=[f"k{i}" for i in range(c)],
                      labeled=[c], ids=draw(st.sampled_from([np.arange(100, 100 + n),
                                                             np.array([f"s{i}" for i in range(n)])])))
        arrays["labels"][c] = 0
    if kind == "regions":
        per = rng.integers(0, 4, size=n)
        offsets = np.concatenate([[0], np.cumsum(per)])
        r = int(offsets[-1])
        arrays.update(regions_probs=_probs(rng, (r, c), np.float32), regions_offsets=offsets,
                      regions_weights=rng.random(r), regions_boxes=rng.random((r, 4)),
                      embeddings=rng.normal(size=(n, 3)).astype(np.float32))
    if kind == "cd":
        present = rng.random((n, c)) < 0.7
        present[:, 0] = True
        arrays.update(cd_mixtures=_probs(rng, (n, c, c), np.float32) * present[..., None], cd_present=present,
                      cd_counts=rng.integers(1, 5, size=(n, c)))
    write_pool(path, **arrays)
    return {"kind": kind, "n": n, "c": c}


# ----------------------------------------------------------------------------------- mutations
#: Mutations that rewrite values skip datasets larger than this (e.g. after enormous_shape).
MAX_REWRITE = 10**6


def _existing(f: h5py.File, draw, names=ALL_NAMES, small=False) -> str | None:
    present = [n for n in names if n in f and (not small or f[n].size <= MAX_REWRITE)]
    return draw(st.sampled_from(present)) if present else None


def _replace(f: h5py.File, name: str, data=None, **kwargs) -> None:
    attrs = dict(f[name].attrs) if name in f else {}
    if name in f:
        del f[name]
    ds = f.create_dataset(name, data=data, **kwargs)
    for key, value in attrs.items():
        ds.attrs[key] = value


def truncate(path, draw, scratch):
    size = os.path.getsize(path)
    keep = draw(st.integers(0, max(0, size - 1)))
    with open(path, "r+b") as handle:
        handle.truncate(keep)
    return f"truncated to {keep} of {size} bytes"


def bit_flips(path, draw, scratch):
    size = os.path.getsize(path)
    positions = draw(st.lists(st.integers(0, size * 8 - 1), min_size=1, max_size=4))
    data = bytearray(open(path, "rb").read())
    for bit in positions:
        data[bit // 8] ^= 1 << (bit % 8)
    open(path, "wb").write(bytes(data))
    return f"flipped bits {positions}"


def byte_garbage(path, draw, scratch):
    size = os.path.getsize(path)
    start = draw(st.integers(0, size - 1))
    chunk = draw(st.binary(min_size=1, max_size=64))
    with open(path, "r+b") as handle:
        handle.seek(start)
        handle.write(chunk)
    return f"overwrote {len(chunk)} bytes at {start}"


def wrong_dtype(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        name = _existing(f, draw, small=True)
        if name is None:
            return "nothing to change"
        shape = f[name].shape
        kind = draw(st.sampled_from(["int", "float", "str", "complex", "bool", "compound", "uint8", "bytes"]))
        size = int(np.prod(shape))
        data = {
            "int": lambda: np.arange(size, dtype=np.int64).reshape(shape) % 3,
            "float": lambda: np.full(shape, 0.5),
            "str": lambda: np.array(["x"] * size, dtype=object).reshape(shape),
            "complex": lambda: np.ones(shape, dtype=np.complex64),
            "bool": lambda: np.ones(shape, dtype=bool),
            "compound": lambda: np.zeros(shape, dtype=[("a", "f4"), ("b", "i4")]),
            "uint8": lambda: np.full(shape, 255, dtype=np.uint8),
            "bytes": lambda: np.array([b"x"] * size, dtype="S1").reshape(shape),
        }[kind]()
        kwargs = {"dtype": h5py.string_dtype()} if kind == "str" else {}
        _replace(f, name, data, **kwargs)
    return f"{name} as {kind}"


def wrong_shape(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        name = _existing(f, draw, small=True)
        if name is None:
            return "nothing to change"
        old = f[name]
        shape = list(old.shape)
        how = draw(st.sampled_from(["drop-axis", "add-axis", "zero-axis", "grow", "shrink", "scalar"]))
        if how == "drop-axis" and shape:
            shape = shape[:-1]
        elif how == "add-axis":
            shape = shape + [2]
        elif how == "zero-axis" and shape:
            shape[draw(st.integers(0, len(shape) - 1))] = 0
        elif how == "grow" and shape:
            shape[draw(st.integers(0, len(shape) - 1))] += 1
        elif how == "shrink" and shape:
            i = draw(st.integers(0, len(shape) - 1))
            shape[i] = max(0, shape[i] - 1)
        elif how == "scalar":
            shape = []
        dtype = old.dtype
        if h5py.check_string_dtype(dtype) is not None:
            data = np.array(["z"] * int(np.prod(shape)), dtype=object).reshape(shape)
        elif dtype.kind == "f":
            data = np.full(shape, 1.0 / max(1, shape[-1] if shape else 1), dtype=dtype)
        else:
            data = np.zeros(shape, dtype=dtype)
        _replace(f, name, data, dtype=dtype)
    return f"{name} reshaped ({how}) to {tuple(shape)}"


def bad_values(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        name = _existing(f, draw, FLOAT_NAMES + ("labels", "labeled", "truth", "epoch_preds", "cd/counts",
                                                 "cd/present", "regions/offsets"), small=True)
        if name is None:
            return "nothing to change"
        data = f[name][()]
        if data.size == 0:
            return f"{name} is empty"
        flat = data.reshape(-1)
        if data.dtype.kind == "f":
            value = draw(st.sampled_from([np.nan, np.inf, -np.inf, -0.5, 5e-324, 1e-310, 1e-45, 2.0, 1e300,
                                          -1e-9, 0.0]))
            if draw(st.booleans()):
                flat[:] = value
            else:
                flat[draw(st.integers(0, flat.size - 1))] = value
        else:
            info = np.iinfo(data.dtype)
            value = draw(st.sampled_from([-1, -2, info.max, info.min, 7, 10**6]))
            value = int(np.clip(value, info.min, info.max))
            flat[draw(st.integers(0, flat.size - 1))] = value
        f[name][...] = data
    return f"{name} value {value!r}"


def denormal_rows(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        name = _existing(f, draw, ("embeddings", "probs", "logits", "regions/boxes"), small=True)
        if name is None:
            return "nothing to change"
        data = f[name][()]
        tiny = np.finfo(data.dtype).smallest_subnormal
        data[...] = tiny * np.arange(data.size).reshape(data.shape) % 3
        if name == "probs":
            data[..., 0] = 1
        f[name][...] = data
    return f"{name} denormal"


ODD_VALUES = [None, "2", 3, 99, -1, 0, 1.5, float("inf"), float("nan"), 1e30, np.array([1, 2]), b"\xff\xfe",
              "alselect-pool", np.array([], dtype=np.int64), True]


def odd_attributes(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        target = draw(st.sampled_from(["root", "dataset"]))
        if target == "root":
            obj, key = f, draw(st.sampled_from(["format", "format_version", "created_by"]))
        else:
            name = _existing(f, draw)
            obj = f[name]
            key = draw(st.sampled_from(["element_version", "encoding_type", "committed_epochs", "stride"]))
        value = draw(st.sampled_from(ODD_VALUES))
        if value is None:
            if key in obj.attrs:
                del obj.attrs[key]
        else:
            obj.attrs[key] = value
    return f"attribute {key} of {target} = {value!r}"


def broken_offsets(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        if "regions/offsets" not in f or f["regions/offsets"].size > MAX_REWRITE:
            return "no offsets"
        data = f["regions/offsets"][()]
        how = draw(st.sampled_from(["swap", "end", "start", "negative", "huge"]))
        if how == "swap" and data.size > 2:
            data[1], data[2] = data[2] + 1, data[1]
        elif how == "end":
            data[-1] += draw(st.integers(1, 5))
        elif how == "start":
            data[0] = 1
        elif how == "negative":
            data[draw(st.integers(0, data.size - 1))] = -5
        elif how == "huge":
            data[-1] = 10**15
        f["regions/offsets"][...] = data
    return f"offsets {how}"


def enormous_shape(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        name = _existing(f, draw, ("probs", "logits", "embeddings", "labels", "labeled", "ids", "mc_probs",
                                   "epoch_preds", "regions/probs", "cost"))
        if name is None:
            return "nothing to change"
        old = f[name]
        rows = draw(st.sampled_from([10**10, 10**11, 10**12]))
        shape = list(old.shape) or [1]
        axis = 1 if name.startswith("epoch_") and len(shape) > 1 else 0
        shape[axis] = rows
        dtype = old.dtype
        chunks = tuple(min(s, 1024) or 1 for s in shape)
        attrs = dict(old.attrs)
        del f[name]
        ds = f.create_dataset(name, shape=tuple(shape), dtype=dtype, chunks=chunks,
                              compression=draw(st.sampled_from([None, "gzip"])))
        ds[0] = 0  # one real chunk
        for key, value in attrs.items():
            ds.attrs[key] = value
    return f"{name} claims {rows} rows"


def links(path, draw, scratch):
    other = os.path.join(scratch, "other.h5")
    if not os.path.exists(other):
        write_pool(other, probs=np.full((5, 2), 0.5), embeddings=np.zeros((5, 3)))
    with h5py.File(path, "r+") as f:
        name = _existing(f, draw, ("probs", "logits", "embeddings", "labels", "ids", "labeled", "mc_probs",
                                   "regions/probs", "cd/mixtures", "scores/s"))
        if name is None:
            return "nothing to change"
        how = draw(st.sampled_from(["soft-self", "soft-loop", "soft-other", "external", "external-missing",
                                    "external-etc", "virtual", "external-storage", "group"]))
        shape, dtype = f[name].shape, f[name].dtype
        del f[name]
        if how == "soft-self":
            f[name] = h5py.SoftLink("/" + name)
        elif how == "soft-loop":
            f[name] = h5py.SoftLink("/x-loop-a")
            f["x-loop-a"] = h5py.SoftLink("/x-loop-b")
            f["x-loop-b"] = h5py.SoftLink("/" + name)
        elif how == "soft-other":
            f[name] = h5py.SoftLink("/" + ("labels" if name != "labels" else "probs"))
        elif how == "external":
            f[name] = h5py.ExternalLink(other, "/probs")
        elif how == "external-missing":
            f[name] = h5py.ExternalLink(os.path.join(scratch, "absent.h5"), "/probs")
        elif how == "external-etc":
            f[name] = h5py.ExternalLink("/etc/passwd", "/probs")
        elif how == "virtual":
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
            if len(shape) >= 1 and all(shape):
                source = h5py.VirtualSource(other, "probs", shape=(5, 2), dtype=np.float64)
                if len(shape) == 1:
                    layout[0:1] = source[0, 0:1]
                else:
                    layout[(slice(0, 1),) * len(shape)] = source[0:1, 0:1] if len(shape) == 2 else source[0, 0]
            f.create_virtual_dataset(name, layout, fillvalue=0)
        elif how == "external-storage":
            raw = os.path.join(scratch, "raw.bin")
            nbytes = int(np.prod(shape)) * dtype.itemsize
            with open(raw, "wb") as handle:
                handle.write(b"\0" * nbytes)
            if h5py.check_string_dtype(dtype) is None and nbytes:
                f.create_dataset(name, shape=shape, dtype=dtype, external=[(raw, 0, nbytes)])
            else:
                f[name] = h5py.SoftLink("/nowhere")
        elif how == "group":
            f.create_group(name)
    return f"{name} as {how}"


def bad_ids(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        n = f["probs" if "probs" in f else "logits"].shape[0]
        bad = draw(st.sampled_from(["", "#a", "a\nb", "a\tb", " a", "dup", "non-utf8", "fixed"]))
        ids = [f"s{i}" for i in range(n)]
        if "ids" in f:
            del f["ids"]
        if bad == "non-utf8":
            f.create_dataset("ids", data=np.array([i.encode() for i in ids[:-1]] + [b"\xff\xfe"], dtype=object),
                             dtype=h5py.string_dtype("ascii"))
            return "ids with non-UTF-8 bytes"
        if bad == "fixed":
            f.create_dataset("ids", data=np.array([i.encode() for i in ids], dtype="S8"))
            return "ids as fixed-length bytes"
        ids[draw(st.integers(0, n - 1))] = ids[0] if bad == "dup" else bad
        f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
    return f"ids with {bad!r}"


def zero_epochs(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        n = f["probs" if "probs" in f else "logits"].shape[0]
        for name in ("epoch_preds", "epoch_probs"):
            if name in f:
                del f[name]
        how = draw(st.sampled_from(["empty", "uncommitted"]))
        ds = f.create_dataset("epoch_preds", shape=(0 if how == "empty" else 2, n), maxshape=(None, n), dtype=np.int8)
        if how == "uncommitted":
            ds[...] = 0
            ds.attrs["committed_epochs"] = 0
    return f"epoch_preds {how}"


def mc_zero_members(path, draw, scratch):
    with h5py.File(path, "r+") as f:
        n, c = f["probs" if "probs" in f else "logits"].shape
        if "mc_probs" in f:
            del f["mc_probs"]
        f.create_dataset("mc_probs", shape=(n, 0, c), dtype=np.float32)
    return "mc_probs (N, 0, C)"


MUTATIONS = [truncate, bit_flips, byte_garbage, wrong_dtype, wrong_shape, bad_values, denormal_rows,
             odd_attributes, broken_offsets, enormous_shape, links, bad_ids, zero_epochs, mc_zero_members]
