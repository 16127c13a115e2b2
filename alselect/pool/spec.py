"""The pool file format: names, versions and the table of datasets.

The prose specification is ``docs/file-format.md``; this module is its machine-readable half.
Everything that names a dataset (validation, error messages, ``inspect``, ``pack``) reads
this table, so the spec, the checks and the messages cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Value of the root attribute ``format``: marks an HDF5 file as an alselect pool.
FORMAT_NAME = "alselect-pool"
#: Highest format version this release reads. Files are stamped with the lowest version that
#: covers their content: 1, or 2 when they hold region data (``regions/``) or CD summaries (``cd/``),
#: or 3 when they hold video or detection data (:data:`V3_GROUPS`, :data:`V3_DATASETS`).
FORMAT_VERSION = 3
#: Groups introduced by version 2.
REGIONS_GROUP = "regions"
CD_GROUP = "cd"
V2_GROUPS = (REGIONS_GROUP, CD_GROUP)
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
#: Every dataset carries its own element version (anndata-style), so elements can evolve
#: independently of the container.
ATTR_ELEMENT_VERSION = "element_version"
ELEMENT_VERSION = 1
#: On the per-epoch datasets: how many leading epoch rows are complete. Written by the epoch
#: recorder after each epoch's row is flushed, so a crash mid-write never exposes a partial row.
ATTR_COMMITTED_EPOCHS = "committed_epochs"

#: Root attribute (optional): JSON record of the low-budget guard measured by ``alselect simulate``
#: (labels per class below which no strategy beat random); ``pick`` warns below it.
ATTR_LOW_BUDGET_GUARD = "low_budget_guard"

#: Group holding named external per-sample scores.
SCORES_GROUP = "scores"


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the pool format."""

    name: str
    shape: str  # symbolic, e.g. "(N, C)"
    kind: str  # "prob", "float", "int", "label", "index", "ids", "str"
    description: str
    how_to_add: str


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("ids", "(N,)", "ids", "unique sample ids (int64 or UTF-8 strings); row numbers when absent",
                    "`alselect pack ... --ids IDS.txt`"),
        DatasetSpec("probs", "(N, C)", "prob", "class probabilities of the current model",
                    "`alselect pack ... --probs P.npy` (or `--logits L.npy`), or `alselect infer`"),
        DatasetSpec("logits", "(N, C)", "float", "class logits; readers derive probs by a stable softmax when probs is absent",
                    "`alselect pack ... --logits L.npy`"),
        DatasetSpec("class_names", "(C,)", "str", "class names, UTF-8", "`alselect pack ... --class-names NAMES.txt`"),
        DatasetSpec("embeddings", "(N, D)", "float", "penultimate-layer embeddings",
                    "`alselect pack ... --embeddings E.npy`, or `alselect infer --embedding-layer NAME`"),
        DatasetSpec("mc_probs", "(N, T, C)", "prob", "Monte-Carlo-dropout samples or ensemble-member probabilities",
                    "`alselect pack ... --mc-probs M.npy`, or `alselect infer --mc-samples T`"),
        DatasetSpec("epoch_preds", "(E, N)", "label", "predicted labels of every row after each training epoch",
                    "`alselect pack ... --epoch-preds T.npy`, or record them during training with `alselect.record.EpochRecorder`"),
        DatasetSpec("epoch_probs", "(E, N, C)", "prob", "per-epoch class probabilities (optional companion of epoch_preds)",
                    "`alselect pack ... --epoch-probs T.npy`"),
        DatasetSpec("labels", "(N,)", "label", "labels known so far, -1 = unknown", "`alselect pack ... --labels Y.npy`"),
        DatasetSpec("labeled", "(K,)", "index", "row numbers of already-labeled samples, sorted, unique",
                    "`alselect pack ... --labeled IDX.txt`"),
        DatasetSpec("truth", "(N,)", "label", "ground-truth labels kept aside for evaluation; never read by strategies",
                    "`alselect pack ... --truth Y.npy`"),
        DatasetSpec("cost", "(N,)", "float", "annotation cost of each sample (> 0), e.g. clicks for a mask",
                    "`alselect pack ... --cost C.npy`"),
        DatasetSpec("regions/offsets", "(N+1,)", "offsets",
                    "CSR offsets: the regions of sample i are rows offsets[i]:offsets[i+1] (format v2)",
                    "`alselect pack ... --region-offsets O.npy --region-probs R.npy`"),
        DatasetSpec("regions/probs", "(R, C)", "prob", "class probabilities of every region (pixel, superpixel, box)",
                    "`alselect pack ... --region-probs R.npy --region-offsets O.npy`, or `alselect infer --task detection`"),
        DatasetSpec("regions/weights", "(R,)", "float", "optional non-negative weight of every region (e.g. its pixel area)",
                    "`alselect pack ... --region-weights W.npy`"),
        DatasetSpec("regions/features", "(R, D)", "float", "features of every region",
                    "`alselect pack ... --region-features F.npy`"),
        DatasetSpec("regions/boxes", "(R, 4)", "float", "boxes (x1, y1, x2, y2) of every region (detection)",
                    "`alselect pack ... --region-boxes B.npy`"),
        DatasetSpec("cd/mixtures", "(N, C, C)", "mixture",
                    "per-sample class mixtures P_I^c (CDAL Eq. 1); row c is the mixture of pseudo-class c",
                    "`alselect pack ... --cd-mixtures M.npy --class-present K.npy`, or `alselect infer --task segmentation`"),
        DatasetSpec("cd/present", "(N, C)", "bool", "whether pseudo-class c occurs in the sample",
                    "`alselect pack ... --class-present K.npy`"),
        DatasetSpec("cd/counts", "(N, C)", "count", "regions (or pixels) per pseudo-class in each sample",
                    "`alselect pack ... --class-counts N.npy`, or `alselect infer --task segmentation`"),
        DatasetSpec("regions/scores", "(R,)", "unit", "detection score of every region, in [0, 1] (format v3)",
                    "`alselect pack ... --region-scores S.npy`"),
        DatasetSpec("regions/classes", "(R,)", "label", "predicted class of every region; argmax of regions/probs when absent (format v3)",
                    "`alselect pack ... --region-classes K.npy`"),
        DatasetSpec("regions/tracks", "(R, 2k, 4)", "tracks",
                    "each region's box tracked into frames -k..-1, +1..+k of its video; NaN rows = lost (format v3)",
                    "`alselect pack ... --region-tracks T.npy`"),
        DatasetSpec("video/id", "(N,)", "index", "video of every sample (int64, any values) (format v3)",
                    "`alselect pack ... --video-ids V.npy --frames F.npy`, or `alselect infer` with a dataset that yields video ids"),
        DatasetSpec("video/frame", "(N,)", "index", "frame number of every sample within its video, >= 0, unique per video (format v3)",
                    "`alselect pack ... --frames F.npy --video-ids V.npy`, or `alselect infer` with a dataset that yields frame numbers"),
        DatasetSpec("motion/forward", "(N, H, W, 2)", "float",
                    "motion (dx, dy) in pixels from each frame to the next frame of its video, on a grid of "
                    "`stride`-pixel cells (format v3)",
                    "`alselect pack ... --motion-forward M.npy --motion-backward B.npy`"),
        DatasetSpec("motion/backward", "(N, H, W, 2)", "float",
                    "motion (dx, dy) in pixels from each frame to the previous frame of its video (format v3)",
                    "`alselect pack ... --motion-backward B.npy --motion-forward M.npy`"),
        DatasetSpec("truth_boxes/offsets", "(N+1,)", "offsets",
                    "CSR offsets of the ground-truth boxes: sample i owns boxes offsets[i]:offsets[i+1]; evaluation only (format v3)",
                    "`alselect pack ... --truth-box-offsets O.npy --truth-boxes B.npy`"),
        DatasetSpec("truth_boxes/boxes", "(G, 4)", "float", "ground-truth boxes (x1, y1, x2, y2); never read by learning strategies (format v3)",
                    "`alselect pack ... --truth-boxes B.npy --truth-box-offsets O.npy`"),
        DatasetSpec("truth_boxes/classes", "(G,)", "label", "class of every ground-truth box (format v3)",
                    "`alselect pack ... --truth-box-classes K.npy`"),
        DatasetSpec("history/rows", "(M,)", "index", "labeling history: the row of each label change "
                    "(valid entries: the group attribute 'committed')", "`alselect label POOL --from FILE`"),
        DatasetSpec("history/labels", "(M,)", "label", "labeling history: the new label", "`alselect label`"),
        DatasetSpec("history/previous", "(M,)", "label", "labeling history: the label before (-1 = none)",
                    "`alselect label`"),
        DatasetSpec("history/cycle", "(M,)", "int", "labeling history: the active-learning cycle (>= 1)",
                    "`alselect label`"),
        DatasetSpec("history/time", "(M,)", "float", "labeling history: when, in seconds since the epoch (UTC)",
                    "`alselect label`"),
        DatasetSpec(SCORES_GROUP + "/<name>", "(N,)", "float", "named external per-sample scores (VAAL, predicted loss, ...)",
                    "`alselect pack ... --score NAME=S.npy`"),
    ]
}


def dataset_spec(name: str) -> DatasetSpec:
    """Spec of a dataset name, mapping ``scores/<x>`` to the scores entry."""
    if name.startswith(SCORES_GROUP + "/"):
        return DATASETS[SCORES_GROUP + "/<name>"]
    return DATASETS[name]
