"""The contract between the selection pipeline and the strategies.

A strategy is a :class:`StrategySpec` (metadata: the data it needs, its parameters, whether it
ranks or picks sequentially) beside an adapter ``impl(ctx: Context, budget: int, **params)`` that
returns a :class:`Ranking` or :class:`Picks`. This module imports nothing heavy, so the registry,
the pipeline and every strategy family can import it without a cycle.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .errors import InvalidInputError, SelectionError
from .progress import no_progress

if TYPE_CHECKING:
    from .pool import Pool

RANKING = "ranking"
SEQUENTIAL = "sequential"


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidInputError(f"{value!r} is not a boolean (use true or false)")


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric parameter: finite, and within ``low``/``high`` when given
    (``low_open``/``high_open`` exclude the bound itself)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __str__(self) -> str:
        from .validation import describe_range

        return describe_range(self.low, self.high, self.low_open, self.high_open)

    def check(self, name: str, value) -> None:
        from .validation import check_number

        check_number(name, value, low=self.low, high=self.high, low_open=self.low_open, high_open=self.high_open)


@dataclass(frozen=True)
class Param:
    """One strategy parameter, given as ``-p name=value`` or as a keyword of :func:`alselect.select`.

    ``choices`` lists the allowed values of a categorical parameter; ``range`` (a :class:`Range`)
    bounds a numeric one. Both are listed by ``alselect strategies`` and enforced by :meth:`parse`."""

    name: str
    default: Any
    help: str
    type: Callable[[Any], Any] = str
    choices: tuple | None = None
    range: Range | None = None

    def parse(self, strategy: str, value):
        try:
            parsed = self.type(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SelectionError(
                f"parameter '{self.name}' of strategy '{strategy}' got {value!r}: {exc}; {self.help}"
            ) from None
        if self.choices is not None and parsed not in self.choices:
            raise SelectionError(
                f"parameter '{self.name}' of strategy '{strategy}' got {value!r}; "
                f"it must be one of: {', '.join(map(str, self.choices))}"
            )
        if self.range is not None:
            try:
                self.range.check(self.name, parsed)
            except InvalidInputError:
                raise SelectionError(
                    f"parameter '{self.name}' of strategy '{strategy}' got {value!r}; it must be {self.range} "
                    f"({self.help})"
                ) from None
        return parsed


@dataclass(frozen=True)
class StrategySpec:
    name: str
    summary: str
    needs: tuple[str, ...]
    impl: str
    order: str = RANKING
    # randomized: the picks depend on the seed, because the strategy draws from ctx.rng / ctx.seed or
    # (ranking strategies) because its scores tie by design and the seeded permutation breaks the ties;
    # a callable decides from the parsed parameters
    randomized: bool | Callable[[dict], bool] = False
    params: tuple[Param, ...] = ()
    reference: str = ""
    extra_needs: str = field(default="", compare=False)  # prose for needs that depend on parameters
    # parameters the registry-wide tests run it with (e.g. fewer training epochs); never a default
    test_params: dict = field(default_factory=dict, compare=False)
    # parameters renamed since an earlier release: old name -> new name (an error, never an alias)
    renamed: dict = field(default_factory=dict, compare=False)

    def parse_params(self, raw: dict) -> dict:
        known = {p.name: p for p in self.params}
        unknown = [k for k in raw if k not in known]
        for key in unknown:
            if key in self.renamed:
                raise SelectionError(f"parameter '{key}' of strategy '{self.name}' was renamed "
                                     f"'{self.renamed[key]}' (see `alselect strategies`)")
        if unknown:
            valid = ", ".join(known) if known else "none"
            raise SelectionError(
                f"strategy '{self.name}' has no parameter '{unknown[0]}'; its parameters are: {valid} "
                "(see `alselect strategies`)"
            )
        out = {p.name: p.default for p in self.params}
        for key, value in raw.items():
            out[key] = known[key].parse(self.name, value)
        return out

    def is_randomized(self, params: dict) -> bool:
        return self.randomized(params) if callable(self.randomized) else bool(self.randomized)

    def load(self) -> Callable:
        module, func = self.impl.split(":")
        return getattr(importlib.import_module(module), func)


@dataclass
class Ranking:
    """What a ranking strategy returns: one score per pool row.

    ``ascending=False`` picks the largest scores first (the usual "most informative"
    convention); ``ascending=True`` the smallest (e.g. margin)."""

    scores: np.ndarray
    ascending: bool = False


@dataclass
class Picks:
    """What a sequential strategy returns: rows in pick order and a score for each pick."""

    indices: np.ndarray
    scores: np.ndarray


@dataclass
class Context:
    """Everything a strategy may use besides its parameters."""

    pool: Pool
    candidates: np.ndarray  # bool (N,): rows that may be picked
    labeled: np.ndarray  # int64 sorted rows already labeled (pool's and the caller's)
    seed: int | None
    rng: np.random.Generator
    progress: Callable = no_progress
    notes: list[str] = field(default_factory=list)
    strategy: str = ""
    #: rows already picked by earlier rounds of this selection (temporal rules, alselect.temporal):
    #: a sequential strategy continues from them as from its own earlier picks
    picked: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    #: global row number of the pool's row 0: nonzero when ``pool`` is one shard of a sharded
    #: pool read on a worker (alselect.distributed); per-row keys hash global rows
    row_offset: int = 0

    def require(self, name: str) -> None:
        self.pool.require(name, f"strategy '{self.strategy}'")

    def note(self, message: str) -> None:
        self.notes.append(message)

    def labeled_labels(self, why: str) -> np.ndarray:
        """Labels (int64) of the labeled rows, in ``labeled`` order; ``why`` names the use in the
        error raised when the pool lacks them."""
        if self.labeled.size == 0:
            return np.empty(0, dtype=np.int64)
        if not self.pool.has("labels"):
            raise SelectionError(
                f"{why} needs the labels of the {self.labeled.size} labeled samples (dataset 'labels'); "
                "add them with `alselect pack ... --labels Y.npy` (-1 for unlabeled rows) or `alselect label`"
            )
        labels = self.pool.read("labels").astype(np.int64)[self.labeled]
        unknown = int((labels < 0).sum())
        if unknown:
            raise SelectionError(
                f"{unknown} of the {self.labeled.size} labeled samples have no label in 'labels' (-1); {why} needs "
                "them: store their labels with `alselect pack ... --labels Y.npy` or `alselect label`"
            )
        return labels

    def read(self, name: str, *, dtype=None) -> np.ndarray:
        """Read a dataset whole, with a progress bar on big ones."""
        self.require(name)
        rows = self.pool.shape(name)[1 if name.startswith("epoch_") else 0]
        with self.progress(f"reading {name}", rows) as update:
            return self.pool.read(name, dtype=dtype, progress=update)
