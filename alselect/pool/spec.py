"""The pool file format: names, versions and the table of datasets.

The prose specification is ``docs/file-format.md``; this module is its machine-readable half.
:data:`DATASETS` is the one table the reader, the writer, the ``pack`` options, ``inspect``,
the ``infer`` sink and the epoch recorder follow: adding a dataset is one row here plus its
paragraph in the docs (a test checks the docs' table against this one).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from ..errors import InvalidInputError

#: Value of the root attribute ``format``: marks an HDF5 file as an alselect pool.
FORMAT_NAME = "alselect-pool"
#: Highest format version this release reads. Files are stamped with the lowest version that
#: covers their content (the highest ``version`` of the datasets they hold).
FORMAT_VERSION = 3
#: Groups introduced by version 2 (the table's ``version`` column is what the code uses).
REGIONS_GROUP = "regions"
CD_GROUP = "cd"
V2_GROUPS = (REGIONS_GROUP, CD_GROUP)
#: Groups introduced by version 3: video structure, motion fields, ground-truth boxes.
VIDEO_GROUP = "video"
MOTION_GROUP = "motion"
TRUTH_BOXES_GROUP = "truth_boxes"
V3_GROUPS = (VIDEO_GROUP, MOTION_GROUP, TRUTH_BOXES_GROUP)
#: On ``motion/forward`` and ``motion/backward``: pixels per motion-grid cell (default 1).
ATTR_MOTION_STRIDE = "stride"
#: Groups introduced by version 3: video structure, motion fields, ground-truth boxes.
VIDEO_GROUP = "video"
MOTION_GROUP = "motion"
TRUTH_BOXES_GROUP = "truth_boxes"
V3_GROUPS = (VIDEO_GROUP, MOTION_GROUP, TRUTH_BOXES_GROUP)
#: Datasets of the version-2 ``regions/`` group introduced by version 3 (detection data).
V3_DATASETS = ("regions/scores", "regions/classes", "regions/tracks")
#: On ``motion/forward`` and ``motion/backward``: pixels per motion-grid cell (default 1).
ATTR_MOTION_STRIDE = "stride"
#: Root attribute names.
ATTR_FORMAT = "format"
ATTR_VERSION = "format_version"
ATTR_CREATED_BY = "created_by"
#: Per-dataset attributes (anndata-style element encoding): the element's encoding type and its
#: version, so elements can evolve independently of the container. Missing attributes read as
#: the dataset's encoding and version 1 (files written before they existed).
ATTR_ENCODING_TYPE = "encoding_type"
ATTR_ELEMENT_VERSION = "element_version"
#: On the per-epoch datasets: how many leading epoch rows are complete. Written by the epoch
#: recorder after each epoch's row is flushed, so a crash mid-write never exposes a partial row.
ATTR_COMMITTED_EPOCHS = "committed_epochs"

#: Root attribute (optional): JSON record of the low-budget guard measured by ``alselect simulate``
#: (labels per class below which no strategy beat random); ``pick`` warns below it.
ATTR_LOW_BUDGET_GUARD = "low_budget_guard"

#: Group holding named external per-sample scores.
SCORES_GROUP = "scores"

#: Dtype rules (``DatasetSpec.dtype``): which storage dtypes a dataset may have.
DTYPE_RULES = {
    "float": "float16, float32 or float64",
    "integer": "any integer type",
    "flags": "bool, or integers holding only 0/1",
    "ids": "integers, or UTF-8 strings",
    "string": "UTF-8 strings",
}

#: The same rules as Zarr v3 data types (a pool in a Zarr store, docs/file-format.md "Zarr stores").
ZARR_DTYPE_RULES = {
    "float": "`float16`, `float32` or `float64`",
    "integer": "`int8` ... `int64`, `uint8` ... `uint64`",
    "flags": "`bool`, or an integer type holding only 0/1",
    "ids": "an integer type, or `string`",
    "string": "`string` (variable-length UTF-8)",
}


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the pool format (one row of :data:`DATASETS`).

    Attributes
    ----------
    name : str
        Path in the file; ``scores/<name>`` stands for every dataset of the ``scores`` group.
    dims : tuple of str
        Symbolic shape. ``N`` samples, ``C`` classes (both fixed by ``probs``/``logits``),
        ``N+1``, or a free size (``D``, ``T``, ``E``, ``R``, ``K``) bound by the first dataset
        that uses it, or a literal such as ``"4"``.
    dtype : str
        Key of :data:`DTYPE_RULES`.
    check : str or None
        Name of the value check in :mod:`alselect.validation`, applied block by block; its
        ``n_classes``/``n_rows``/``n_regions``/``present`` arguments are filled in by the caller.
    check_kwargs : tuple of (key, value)
        Fixed extra arguments of the check (e.g. ``allow_unknown=False``).
    dim_args : tuple of (argument, dim)
        Check arguments filled with a size of the pool (e.g. ``n_regions`` from ``R``).
    whole : bool
        The check needs the whole dataset at once (offsets, row lists, ids), not blocks of rows.
    axis : int
        Axis that is read in blocks (the sample axis N, or R for region data).
    growable : bool
        Created resizable along axis 0, so rows can be appended (epochs, regions).
    flag, metavar, help : str or None
        The ``alselect pack`` option that fills the dataset (``None``: not packed).
    source : str
        How ``pack`` reads the option: ``array`` (.npy/.npz), ``rows`` (row numbers, one per
        line), ``ids``, ``lines`` (one string per line) or ``named-arrays`` (NAME=FILE, repeatable).
    arg : str
        Keyword of :func:`alselect.write_pool` (and the ``pack`` parameter).
    store : str or None
        Storage dtype the writer converts to (``None``: keep the input's).
    requires : tuple of str
        Datasets that must be present with this one.
    version : int
        Format version that introduced the dataset.
    encoding : str
        Element encoding type, written as the ``encoding_type`` attribute.
    element_version : int
        Highest element version this release reads and the one it writes.
    description, how_to_add : str
        For docs, ``inspect`` and "missing dataset" errors.
    """

    name: str
    dims: tuple[str, ...]
    dtype: str
    check: str | None
    description: str
    how_to_add: str
    flag: str | None = None
    metavar: str = "X.npy"
    help: str = ""
    source: str = "array"
    arg: str = ""
    store: str | None = None
    check_kwargs: tuple = ()
    dim_args: tuple = ()
    whole: bool = False
    axis: int = 0
    growable: bool = False
    requires: tuple[str, ...] = ()
    version: int = 1
    encoding: str = "array"
    element_version: int = 1

    @property
    def shape(self) -> str:
        """The symbolic shape as text, e.g. ``(N, C)``."""
        return "(" + ", ".join(self.dims) + ("," if len(self.dims) == 1 else "") + ")"

    @property
    def row_dims(self) -> str:
        return self.dims[self.axis]

    @property
    def epochs(self) -> bool:
        """Per-epoch dataset: axis 0 is E, trusted up to ``committed_epochs``."""
        return self.dims[0] == "E"


def keyword_of(name: str) -> str:
    """The Python keyword of a dataset: its path with ``/`` as ``_`` (``cd/present`` -> ``cd_present``);
    a group of named datasets (``scores/<name>``) is one keyword, the group's name, taking a mapping."""
    return name.split("/<", 1)[0].replace("/", "_")


def flag_of(name: str) -> str:
    """The ``alselect pack`` option of a dataset: its keyword with ``_`` as ``-`` (``--cd-present``)."""
    return "--" + keyword_of(name).replace("_", "-")


def _row(name, dims, dtype, check, description, how_to_add, *, flag: bool = False, **kw) -> DatasetSpec:
    return DatasetSpec(name, tuple(dims), dtype, check, description, how_to_add, arg=keyword_of(name),
                       flag=flag_of(name) if flag else None, **kw)


_PACK = "`alselect pack ... "

#: The datasets of the format, in ``pack``-option order.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        _row("probs", ("N", "C"), "float", "check_probabilities", "class probabilities of the current model",
             _PACK + "--probs P.npy` (or `--logits L.npy`), or `alselect infer`",
             flag=True, metavar="P.npy", help="Class probabilities (N, C)."),
        _row("logits", ("N", "C"), "float", "check_finite",
             "class logits; readers derive probs by a stable softmax when probs is absent",
             _PACK + "--logits L.npy`", flag=True, metavar="L.npy",
             help="Class logits (N, C); probabilities are derived by a stable softmax."),
        _row("embeddings", ("N", "D"), "float", "check_finite", "penultimate-layer embeddings",
             _PACK + "--embeddings E.npy`, or `alselect infer --embedding-layer NAME`",
             flag=True, metavar="E.npy", help="Embeddings (N, D)."),
        _row("mc_probs", ("N", "T", "C"), "float", "check_probabilities",
             "Monte-Carlo-dropout samples or ensemble-member probabilities",
             _PACK + "--mc-probs M.npy`, or `alselect infer --mc-samples T`",
             flag=True, metavar="M.npy", help="MC-dropout / ensemble probabilities (N, T, C)."),
        _row("epoch_preds", ("E", "N"), "integer", "check_labels", "predicted labels of every row after each training epoch",
             _PACK + "--epoch-preds T.npy`, or record them during training with `alselect.record.EpochRecorder`",
             flag=True, metavar="T.npy", help="Per-epoch predicted labels (E, N).",
             check_kwargs=(("allow_unknown", False),), axis=1, growable=True),
        _row("epoch_probs", ("E", "N", "C"), "float", "check_probabilities",
             "per-epoch class probabilities (optional companion of epoch_preds)", _PACK + "--epoch-probs T.npy`",
             flag=True, metavar="T.npy", help="Per-epoch probabilities (E, N, C).",
             axis=1, growable=True, requires=("epoch_preds",)),
        _row("labels", ("N",), "integer", "check_labels", "labels known so far, -1 = unknown",
             _PACK + "--labels Y.npy`", flag=True, metavar="Y.npy",
             help="Labels known so far (N,), -1 = unknown.", store="int64"),
        _row("truth", ("N",), "integer", "check_labels",
             "ground-truth labels kept aside for evaluation; never read by strategies", _PACK + "--truth Y.npy`",
             flag=True, metavar="Y.npy", help="Ground-truth labels for evaluation only (N,).", store="int64"),
        _row("labeled", ("K",), "integer", "check_row_indices", "row numbers of already-labeled samples, sorted, unique",
             _PACK + "--labeled IDX.txt`", flag=True, metavar="IDX.txt",
             help="Already-labeled rows, one row number per line.", source="rows", store="int64", whole=True),
        _row("ids", ("N",), "ids", "check_ids",
             "unique sample ids: int64, or UTF-8 strings without '#', tabs, line breaks or surrounding spaces; "
             "row numbers when absent",
             _PACK + "--ids IDS.txt`", flag=True, metavar="IDS.txt",
             help="Sample ids, one per line (integers or strings).", source="ids", whole=True,
             encoding="string-array"),
        _row("history/rows", ("M",), "integer", None,
             "labeling history: the row of each label change (valid entries: the group attribute 'committed')",
             "`alselect label POOL --from FILE`", growable=True, version=3),
        _row("history/labels", ("M",), "integer", "check_labels", "labeling history: the new label",
             "`alselect label`", check_kwargs=(("allow_unknown", False),), growable=True, version=3),
        _row("history/previous", ("M",), "integer", "check_labels", "labeling history: the label before (-1 = none)",
             "`alselect label`", growable=True, version=3),
        _row("history/cycle", ("M",), "integer", "check_counts", "labeling history: the active-learning cycle (>= 1)",
             "`alselect label`", growable=True, version=3),
        _row("history/time", ("M",), "float", "check_finite",
             "labeling history: when, in seconds since the epoch (UTC)", "`alselect label`", growable=True, version=3),
        _row(SCORES_GROUP + "/<name>", ("N",), "float", "check_finite",
             "named external per-sample scores (VAAL, predicted loss, ...)", _PACK + "--scores NAME=S.npy`",
             flag=True, metavar="NAME=S.npy", help="Named external score (N,) (repeatable).",
             source="named-arrays"),
        _row("cost", ("N",), "float", "check_positive", "annotation cost of each sample (> 0), e.g. clicks for a mask",
             _PACK + "--cost C.npy`", flag=True, metavar="C.npy", help="Annotation cost per sample (N,), > 0."),
        _row("class_names", ("C",), "string", "check_class_names", "class names, UTF-8",
             _PACK + "--class-names NAMES.txt`", flag=True, metavar="NAMES.txt",
             help="Class names, one per line.", source="lines", whole=True, encoding="string-array"),
        _row("regions/probs", ("R", "C"), "float", "check_probabilities",
             "class probabilities of every region (pixel, superpixel, box)",
             _PACK + "--regions-probs R.npy --regions-offsets O.npy`, or `alselect infer --task detection`",
             flag=True, metavar="R.npy", help="Region (pixel/superpixel/box) class probabilities (R, C).",
             growable=True, requires=("regions/offsets",), version=2),
        _row("regions/offsets", ("N+1",), "integer", "check_offsets",
             "CSR offsets: the regions of sample i are rows offsets[i]:offsets[i+1]",
             _PACK + "--regions-offsets O.npy --regions-probs R.npy`", flag=True, metavar="O.npy",
             help="CSR offsets (N+1,): sample i owns regions offsets[i]:offsets[i+1].", store="int64", whole=True,
             dim_args=(("n_regions", "R"),), requires=("regions/probs",), version=2,
             encoding="csr-offsets"),
        _row("regions/weights", ("R",), "float", "check_nonnegative",
             "optional non-negative weight of every region (e.g. its pixel area)", _PACK + "--regions-weights W.npy`",
             flag=True, metavar="W.npy", help="Region weights (R,), e.g. pixel areas.",
             growable=True, requires=("regions/probs",), version=2),
        _row("regions/features", ("R", "D"), "float", "check_finite", "features of every region",
             _PACK + "--regions-features F.npy`", flag=True, metavar="F.npy",
             help="Region features (R, D).", growable=True, requires=("regions/probs",),
             version=2),
        _row("regions/boxes", ("R", "4"), "float", "check_finite", "boxes (x1, y1, x2, y2) of every region (detection)",
             _PACK + "--regions-boxes B.npy`", flag=True, metavar="B.npy",
             help="Region boxes (R, 4) as x1, y1, x2, y2.", growable=True,
             requires=("regions/probs",), version=2),
        _row("cd/mixtures", ("N", "C", "C"), "float", "check_mixtures",
             "per-sample class mixtures P_I^c (CDAL Eq. 1); row c is the mixture of pseudo-class c",
             _PACK + "--cd-mixtures M.npy --cd-present K.npy`, or `alselect infer --task segmentation`",
             flag=True, metavar="M.npy", help="Precomputed per-sample class mixtures (N, C, C) (CDAL Eq. 1).",
             requires=("cd/present",), version=2),
        _row("cd/present", ("N", "C"), "flags", "check_flags", "whether pseudo-class c occurs in the sample",
             _PACK + "--cd-present K.npy`", flag=True, metavar="K.npy",
             help="Pseudo-class present mask (N, C), with --cd-mixtures.", store="uint8",
             requires=("cd/mixtures",), version=2),
        _row("cd/counts", ("N", "C"), "integer", "check_counts", "regions (or pixels) per pseudo-class in each sample",
             _PACK + "--cd-counts N.npy`, or `alselect infer --task segmentation`", flag=True,
             metavar="N.npy", help="Regions/pixels per pseudo-class (N, C).", store="int64",
             version=2),
        _row("regions/scores", ("R",), "float", "check_unit_interval",
             "detection score of every region, in [0, 1]", _PACK + "--regions-scores S.npy`",
             flag=True, metavar="S.npy", help="Detection score of every region (R,), in [0, 1].",
             growable=True, requires=("regions/probs",), version=3),
        _row("regions/classes", ("R",), "integer", "check_labels",
             "predicted class of every region; argmax of regions/probs when absent", _PACK + "--regions-classes K.npy`",
             flag=True, metavar="K.npy", help="Predicted class of every region (R,).",
             store="int64", check_kwargs=(("allow_unknown", False),), growable=True,
             requires=("regions/probs",), version=3),
        _row("regions/tracks", ("R", "2k", "4"), "float", "check_tracks",
             "each region's box tracked into frames -k..-1, +1..+k of its video; NaN rows = lost",
             _PACK + "--regions-tracks T.npy`", flag=True, metavar="T.npy",
             help="Each region's box tracked into frames -k..-1, +1..+k (R, 2k, 4); NaN = lost.",
             growable=True, requires=("regions/probs",), version=3),
        _row("video/id", ("N",), "integer", None, "video of every sample (int64, any values)",
             _PACK + "--video-id V.npy --video-frame F.npy`, or `alselect infer` with a dataset that yields video ids",
             flag=True, metavar="V.npy", help="Video of every sample (N,) integers.", store="int64",
             requires=("video/frame",), version=3),
        _row("video/frame", ("N",), "integer", "check_frame_numbers",
             "frame number of every sample within its video, >= 0, unique per video",
             _PACK + "--video-frame F.npy --video-id V.npy`, or `alselect infer` with a dataset that yields frame "
             "numbers",
             flag=True, metavar="F.npy", help="Frame number of every sample within its video (N,), >= 0.",
             store="int64", requires=("video/id",), version=3),
        _row("motion/forward", ("N", "H", "W", "2"), "float", "check_finite",
             "motion (dx, dy) in pixels from each frame to the next frame of its video, on a grid of "
             "`stride`-pixel cells", _PACK + "--motion-forward M.npy --motion-backward B.npy`",
             flag=True, metavar="M.npy", help="Motion (dx, dy) from each frame to the next (N, H, W, 2).",
             requires=("motion/backward", "video/id"), version=3),
        _row("motion/backward", ("N", "H", "W", "2"), "float", "check_finite",
             "motion (dx, dy) in pixels from each frame to the previous frame of its video",
             _PACK + "--motion-backward B.npy --motion-forward M.npy`", flag=True, metavar="M.npy",
             help="Motion (dx, dy) from each frame to the previous (N, H, W, 2).",
             requires=("motion/forward", "video/id"), version=3),
        _row("truth_boxes/boxes", ("G", "4"), "float", "check_finite",
             "ground-truth boxes (x1, y1, x2, y2); never read by learning strategies",
             _PACK + "--truth-boxes-boxes B.npy --truth-boxes-offsets O.npy`", flag=True, metavar="B.npy",
             help="Ground-truth boxes (G, 4) for evaluation (oracle strategies).",
             requires=("truth_boxes/offsets",), version=3),
        _row("truth_boxes/offsets", ("N+1",), "integer", "check_offsets",
             "CSR offsets of the ground-truth boxes: sample i owns boxes offsets[i]:offsets[i+1]; evaluation only",
             _PACK + "--truth-boxes-offsets O.npy --truth-boxes-boxes B.npy`", flag=True, metavar="O.npy",
             help="CSR offsets (N+1,) of the ground-truth boxes.", store="int64", whole=True,
             dim_args=(("n_regions", "G"),), requires=("truth_boxes/boxes",), version=3, encoding="csr-offsets"),
        _row("truth_boxes/classes", ("G",), "integer", "check_labels", "class of every ground-truth box",
             _PACK + "--truth-boxes-classes K.npy`", flag=True, metavar="K.npy",
             help="Class of every ground-truth box (G,).", store="int64",
             check_kwargs=(("allow_unknown", False),), requires=("truth_boxes/boxes",), version=3),
    ]
}

#: Dataset specs by ``write_pool`` keyword.
BY_ARG: dict[str, DatasetSpec] = {spec.arg: spec for spec in DATASETS.values()}

#: Keywords of earlier releases that broke the path rule (:func:`keyword_of`), by the dataset they
#: named; passing one is an error naming the new keyword, never a silent alias.
RENAMED_KEYWORDS: dict[str, str] = {
    "class_present": "cd/present", "class_counts": "cd/counts",
    **{f"region_{b}": f"regions/{b}" for b in ("probs", "offsets", "weights", "features", "boxes", "scores",
                                               "classes", "tracks")},
    "video_ids": "video/id", "frames": "video/frame", "truth_boxes": "truth_boxes/boxes",
    "truth_box_offsets": "truth_boxes/offsets", "truth_box_classes": "truth_boxes/classes",
}
#: ``pack`` options of earlier releases, by the dataset they filled.
RENAMED_FLAGS: dict[str, str] = {
    **{"--" + old.replace("_", "-"): name for old, name in RENAMED_KEYWORDS.items()},
    "--score": SCORES_GROUP + "/<name>",
}


def renamed_keyword_message(keyword: str) -> str | None:
    """The error for a keyword of an earlier release (None when ``keyword`` is not one)."""
    name = RENAMED_KEYWORDS.get(keyword)
    if name is None:
        return None
    return (f"'{keyword}' was renamed '{keyword_of(name)}': the keyword of dataset {name} is its path "
            "with '/' as '_' (docs/file-format.md)")


def unknown_keywords(keys, known) -> list[str]:
    """The keys not in ``known``, sorted; a keyword of an earlier release among them is the
    error naming its new spelling (the caller words the error for the others)."""
    unknown = sorted(set(keys) - set(known))
    for key in unknown:
        message = renamed_keyword_message(key)
        if message:
            raise InvalidInputError(message)
    return unknown


def renamed_flag_message(flag: str) -> str:
    """The error for a ``pack`` option of an earlier release."""
    name = RENAMED_FLAGS[flag]
    return (f"{flag} was renamed {flag_of(name)}: the pack option of dataset {name} is its path "
            "with '/' and '_' as '-' (alselect pack --help)")


def dataset_spec(name: str) -> DatasetSpec:
    """Spec of a dataset name, mapping ``scores/<x>`` to the scores entry (KeyError when unknown)."""
    if name.startswith(SCORES_GROUP + "/"):
        return DATASETS[SCORES_GROUP + "/<name>"]
    return DATASETS[name]


def is_known(name: str) -> bool:
    try:
        dataset_spec(name)
    except KeyError:
        return False
    return name != SCORES_GROUP + "/<name>"


def value_check(spec: DatasetSpec, **context) -> Callable | None:
    """The spec's check from :mod:`alselect.validation` as ``f(name, block, offset=0)``.

    ``context`` supplies the arguments the check declares (``n_classes``, ``n_rows``,
    ``present``) and ``sizes``, the pool's sizes by dim symbol, for the spec's ``dim_args``;
    ``present`` may be a callable ``(start, stop) -> block``."""
    if spec.check is None:
        return None
    from .. import validation

    fn = getattr(validation, spec.check)
    params = inspect.signature(fn).parameters
    fixed = dict(spec.check_kwargs)
    fixed.update({k: v for k, v in context.items() if k in params and k not in ("present", "sizes")})
    fixed.update({arg: (context.get("sizes") or {}).get(dim) for arg, dim in spec.dim_args})
    lazy_present = "present" in params and context.get("present") is not None

    def check(name, block, offset=0):
        extra = dict(fixed)
        if lazy_present:
            present = context["present"]
            extra["present"] = present(offset, offset + len(block)) if callable(present) else present
        if "offset" in params:
            return fn(name, block, offset=offset, **extra)
        return fn(name, block, **extra)

    return check


def encoding_of(spec: DatasetSpec) -> dict:
    """Attributes that stamp a dataset with its element encoding (written once, by :func:`stamp`)."""
    return {ATTR_ENCODING_TYPE: spec.encoding, ATTR_ELEMENT_VERSION: spec.element_version}


def stamp(ds, name: str) -> None:
    """Write the element encoding attributes of dataset ``name`` on the h5py dataset ``ds``."""
    try:
        spec = dataset_spec(name)
    except KeyError:
        return  # not part of the format: stored as given
    for key, value in encoding_of(spec).items():
        ds.attrs[key] = value


def version_for(names) -> int:
    """The lowest format version that covers the given dataset names."""
    version = 1
    for name in names:
        if is_known(name):
            version = max(version, dataset_spec(name).version)
    return version


def match_dims(spec: DatasetSpec, shape: tuple, sizes: dict, shared: tuple,
               may_be_empty: tuple = ("R", "E", "K", "M")) -> str | None:
    """Check ``shape`` against the spec's symbolic dims; bind new ``shared`` dims in ``sizes``.

    Returns None when it matches, else the expected shape as text (e.g. ``(R, C=3)``).
    Free dims must be >= 1, except those in ``may_be_empty``: by default R (a pool may have no
    regions), E (no epoch recorded yet), K (no labeled row listed) and M (no history entry)."""
    want = "(" + ", ".join(f"{d}={sizes[d]}" if d in sizes else f"{d}={sizes['N'] + 1}" if d == "N+1" else d
                           for d in spec.dims) + ("," if len(spec.dims) == 1 else "") + ")"
    if len(shape) != len(spec.dims):
        return want
    local: dict[str, int] = {}
    for dim, size in zip(spec.dims, shape):
        if dim == "N+1":
            ok = size == sizes["N"] + 1
        elif dim.isdigit():
            ok = size == int(dim)
        elif dim[0].isdigit():  # e.g. "2k": a positive multiple of 2
            step = int(dim.rstrip("abcdefghijklmnopqrstuvwxyz"))
            ok = size >= step and size % step == 0
        else:
            bound = sizes if dim in shared else local
            bound.setdefault(dim, int(size))
            ok = bound[dim] == size and (size >= 1 or dim in may_be_empty)
        if not ok:
            return want
    return None
