"""Label Studio hand-off: task JSON for the picks, push through the official SDK, pull annotations.

Every task carries ``data.alselect_id`` (the sample id; the row number when the pool has no ids)
and ``data.alselect_row``; push uses ``alselect_id`` to stay idempotent, pull to map annotations
back to pool rows. The pool's current prediction is attached as a pre-annotation
(``predictions``) with its probability as score; the strategy and the pick's score go into the
task's ``meta``. Classification pools get a ``Choices`` result; pools with region boxes get one
``RectangleLabels`` result per box (Label Studio wants box coordinates in percent of the image,
so ``image_size`` is needed).

The SDK (``label-studio-sdk``) is imported only by :func:`connect`; building the tasks needs
nothing beyond NumPy. The API token is read from the environment, never from arguments.
"""

from __future__ import annotations

import json
import os
import posixpath
import urllib.parse
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError, MissingDatasetError, SelectionError
from .sources import LabelEntry

#: Environment variable holding the Label Studio API token (the SDK's own convention).
TOKEN_ENV = "LABEL_STUDIO_API_KEY"
#: Names used in the generated labeling configuration and in every task's results.
DATA_KEY = "image"
CHOICES_NAME = "label"
BOXES_NAME = "boxes"


@dataclass
class PickList:
    """Rows to hand off, with the score and strategy when the pick output carried them."""

    rows: np.ndarray
    scores: np.ndarray | None
    strategy: str | None


def parse_picks(text: str, pool, *, use_ids: bool = False, strategy: str | None = None,
                what: str = "--picks") -> PickList:
    """Picks as written by ``alselect pick`` in any format: txt (row or id, optional score column),
    csv (header row/id[,score]) or jsonl."""
    from ..validation import check_row_indices

    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InvalidInputError(f"{what}: the pick list is empty")
    keys, scores = [], []
    first = lines[0].strip()
    if first.startswith("{"):
        for n, line in enumerate(lines, 1):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{what}: line {n} is not valid JSON ({exc.msg})") from None
            if "id" in obj:
                use_ids = True
                keys.append(str(obj["id"]))
            elif "row" in obj:
                keys.append(str(obj["row"]))
            else:
                raise InvalidInputError(f"{what}: line {n} has neither 'row' nor 'id'")
            scores.append(obj.get("score"))
    else:
        header = [c.strip() for c in first.split(",")]
        if header[0] in ("row", "id") and (len(header) == 1 or header[1] == "score"):
            use_ids = header[0] == "id"
            rows_text = [line.split(",") for line in lines[1:]]
        else:
            rows_text = [line.split("\t") for line in lines]
        for parts in rows_text:
            keys.append(parts[0].strip())
            scores.append(parts[1].strip() if len(parts) > 1 else None)
    if use_ids:
        rows = pool.rows_for_ids(keys, what)
    else:
        try:
            rows = np.array([int(k) for k in keys], dtype=np.int64)
        except ValueError:
            raise InvalidInputError(f"{what}: entries are not row numbers; pass --ids if the list holds ids") from None
    check_row_indices(what, rows, pool.n_rows)  # range and duplicates; the pick order is kept
    have = [s for s in scores if s is not None]
    if have and len(have) != len(scores):
        raise InvalidInputError(f"{what}: some picks have a score and some do not")
    try:
        values = np.array([float(s) for s in scores], dtype=np.float64) if have else None
    except ValueError:
        raise InvalidInputError(f"{what}: the score column holds a non-number") from None
    return PickList(rows=rows, scores=values, strategy=strategy)


def label_config(class_names: list[str], *, boxes: bool = False) -> str:
    """A Label Studio labeling configuration (XML) for the pool's classes."""
    from xml.sax.saxutils import quoteattr

    options = "".join(f"<{'Label' if boxes else 'Choice'} value={quoteattr(name)}/>" for name in class_names)
    control = (f'<RectangleLabels name="{BOXES_NAME}" toName="{DATA_KEY}">{options}</RectangleLabels>' if boxes else
               f'<Choices name="{CHOICES_NAME}" toName="{DATA_KEY}" choice="single">{options}</Choices>')
    return f'<View><Image name="{DATA_KEY}" value="${DATA_KEY}"/>{control}</View>'


def _is_url(root: str) -> bool:
    return urllib.parse.urlparse(root).scheme in ("http", "https", "s3", "gs", "azure-blob")


def data_url(sample_id: str, *, data_root: str | None, mapping: dict[str, str] | None,
             document_root: str = "/") -> str:
    """Where Label Studio finds the sample: the mapping's URL, a URL under ``data_root``, or a local
    file under ``data_root`` served by Label Studio's local-files storage."""
    if mapping is not None:
        if sample_id not in mapping:
            raise InvalidInputError(f"--data: no URL for sample {sample_id!r}; every pick needs one")
        return mapping[sample_id]
    if data_root is None:
        return sample_id
    if _is_url(data_root):
        return data_root.rstrip("/") + "/" + urllib.parse.quote(sample_id)
    path = os.path.abspath(os.path.join(data_root, sample_id))
    rel = os.path.relpath(path, os.path.abspath(document_root))
    if rel.startswith(".."):
        raise InvalidInputError(f"--data-root: '{path}' is outside the document root '{document_root}' that Label "
                                "Studio serves local files from; pass --document-root")
    return "/data/local-files/?d=" + urllib.parse.quote(posixpath.join(*rel.split(os.sep)))


def build_tasks(pool, picks: PickList, *, data_root: str | None = None, mapping: dict[str, str] | None = None,
                document_root: str = "/", image_size: tuple[int, int] | None = None,
                model_version: str = "alselect") -> list[dict]:
    """Label Studio task dicts for the picked rows (classification, or boxes from region data)."""
    names = pool.class_names() or [str(c) for c in range(pool.n_classes)]
    ids = pool.ids()
    probs = pool.read("probs", dtype=np.float64)[picks.rows] if pool.has("probs") else None
    boxes = pool.has("regions/boxes")
    if boxes:
        if image_size is None:
            raise InvalidInputError("the pool holds region boxes; Label Studio needs box coordinates in percent, so "
                                    "pass --image-size WIDTHxHEIGHT")
        offsets = pool.region_offsets()
        region_probs = pool.read("regions/probs", dtype=np.float64)
        region_boxes = pool.read("regions/boxes", dtype=np.float64)
    tasks = []
    for k, row in enumerate(picks.rows):
        sample_id = str(ids[row])
        data = {DATA_KEY: data_url(sample_id, data_root=data_root, mapping=mapping, document_root=document_root),
                "alselect_id": sample_id, "alselect_row": int(row)}
        if boxes:
            w, h = image_size
            results, confidences = [], []
            for r in range(offsets[row], offsets[row + 1]):
                x1, y1, x2, y2 = region_boxes[r]
                c = int(np.argmax(region_probs[r]))
                confidences.append(float(region_probs[r, c]))
                results.append({"from_name": BOXES_NAME, "to_name": DATA_KEY, "type": "rectanglelabels",
                                "original_width": int(w), "original_height": int(h), "image_rotation": 0,
                                "value": {"x": 100.0 * x1 / w, "y": 100.0 * y1 / h, "width": 100.0 * (x2 - x1) / w,
                                          "height": 100.0 * (y2 - y1) / h, "rotation": 0,
                                          "rectanglelabels": [names[c]]},
                                "score": float(region_probs[r, c])})
            prediction = {"model_version": model_version, "result": results,
                          "score": float(np.mean(confidences)) if confidences else 0.0}
        else:
            c = int(np.argmax(probs[k]))
            prediction = {"model_version": model_version, "score": float(probs[k, c]),
                          "result": [{"from_name": CHOICES_NAME, "to_name": DATA_KEY, "type": "choices",
                                      "value": {"choices": [names[c]]}}]}
        meta = {"alselect_row": int(row)}
        if picks.strategy:
            meta["strategy"] = picks.strategy
        if picks.scores is not None:
            score = float(picks.scores[k])
            meta["score"] = score if np.isfinite(score) else None
        tasks.append({"data": data, "predictions": [prediction], "meta": meta})
    return tasks


def read_mapping(text: str, what: str = "--data") -> dict[str, str]:
    """An id -> URL mapping: CSV with header ``id,url`` or JSONL ``{"id": ..., "url": ...}``."""
    out: dict[str, str] = {}
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InvalidInputError(f"{what}: the mapping is empty")
    if lines[0].lstrip().startswith("{"):
        for n, line in enumerate(lines, 1):
            obj = json.loads(line)
            if "id" not in obj or "url" not in obj:
                raise InvalidInputError(f"{what}: line {n} needs 'id' and 'url'")
            out[str(obj["id"])] = str(obj["url"])
        return out
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "id" not in reader.fieldnames or "url" not in reader.fieldnames:
        raise InvalidInputError(f"{what}: a CSV mapping needs a header with 'id' and 'url'")
    for row in reader:
        out[row["id"].strip()] = row["url"].strip()
    return out


# -------------------------------------------------------------------------------- the server
def connect(url: str):
    """A Label Studio SDK client for ``url`` with the token from :data:`TOKEN_ENV`."""
    from ..errors import require_extra

    sdk = require_extra("label_studio_sdk", "label-studio", "talking to Label Studio")
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise InvalidInputError(f"set the environment variable {TOKEN_ENV} to your Label Studio API token "
                                "(Account & Settings > Access Token); it is never taken from the command line")
    return sdk.LabelStudio(base_url=url.rstrip("/"), api_key=token)


def _api(call, what: str):
    """Run one SDK call; connection and API errors become one clear alselect error."""
    try:
        return call()
    except Exception as exc:  # the SDK raises ApiError, httpx errors and pydantic errors
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "body", None)
        if isinstance(body, dict):
            detail = body.get("detail") or body.get("validation_errors") or body
        else:
            detail = body or (str(exc).splitlines() or [type(exc).__name__])[0]
        hint = {401: "check the token in " + TOKEN_ENV, 403: "check the token's permissions",
                404: "check the project id"}.get(status, "check --url and that the server is running")
        raise SelectionError(f"Label Studio {what} failed ({status or type(exc).__name__}: {detail}); {hint}") from None


def existing_ids(client, project: int) -> set[str]:
    """``alselect_id`` of every task already in the project."""
    tasks = _api(lambda: list(client.tasks.list(project=project, fields="all")), "task listing")
    return {str(t.data.get("alselect_id")) for t in tasks if isinstance(t.data, dict) and "alselect_id" in t.data}


def create_project(client, title: str, class_names: list[str], *, boxes: bool = False) -> int:
    project = _api(lambda: client.projects.create(title=title, label_config=label_config(class_names, boxes=boxes)),
                   "project creation")
    return int(project.id)


def push(client, project: int, tasks: list[dict]) -> tuple[int, int]:
    """Create the tasks not yet in the project; returns (created, skipped)."""
    have = existing_ids(client, project)
    new = [t for t in tasks if t["data"]["alselect_id"] not in have]
    if new:
        _api(lambda: client.projects.import_tasks(id=project, request=new), "task import")
    return len(new), len(tasks) - len(new)


def pull_entries(client, project: int) -> tuple[list[LabelEntry], int]:
    """Label entries from the project's finished annotations, and how many tasks had none.

    A task's label is the latest (by update time) non-cancelled annotation with a single choice;
    box annotations are not pulled (they are not class labels of the sample)."""
    tasks = _api(lambda: list(client.tasks.list(project=project, fields="all")), "task listing")
    entries, unfinished = [], 0
    for task in tasks:
        data = task.data if isinstance(task.data, dict) else {}
        if "alselect_id" not in data:
            continue
        done = [a for a in (task.annotations or []) if not _get(a, "was_cancelled")]
        choice = None
        for annotation in sorted(done, key=lambda a: str(_get(a, "updated_at") or _get(a, "created_at") or "")):
            for item in _get(annotation, "result") or []:
                value = item.get("value", {}) if isinstance(item, dict) else {}
                if item.get("type") == "choices" and len(value.get("choices", [])) == 1:
                    choice = value["choices"][0]
        if choice is None:
            unfinished += 1
            continue
        entries.append(LabelEntry(line=int(task.id), by="id", key=str(data["alselect_id"]), value=str(choice),
                                  value_kind="class"))
    return entries, unfinished


def _get(obj, name):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def require_classes(pool) -> list[str]:
    names = pool.class_names()
    if not names:
        raise MissingDatasetError("Label Studio labels are class names, but the pool has no class_names; add them "
                                  "with `alselect pack --class-names NAMES.txt`")
    return names
