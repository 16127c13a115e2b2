"""The strategy registry: the ``SPECS`` of every strategy family, collected by name.

Each family module (``alselect.strategies.<family>``) holds its adapters and, beside them, a
module-level ``SPECS`` list of :class:`~alselect.contract.StrategySpec`. Family modules import
no numba, torch or solver at module level, so listing strategies stays cheap; the adapter's
own imports run only when the strategy runs. A new family is one module plus one name in
:data:`FAMILIES`.
"""

from __future__ import annotations

import difflib
import importlib

from ..contract import RANKING, SEQUENTIAL, Param, Range, StrategySpec, parse_bool
from ..errors import SelectionError

FAMILIES = ("uncertainty", "embedding", "balanced", "contextual", "video", "svm", "learned")

REGISTRY: dict[str, StrategySpec] = {}
for _family in FAMILIES:
    for _spec in importlib.import_module(f"{__name__}.{_family}").SPECS:
        REGISTRY[_spec.name] = _spec

__all__ = ["REGISTRY", "FAMILIES", "RANKING", "SEQUENTIAL", "Param", "Range", "StrategySpec", "parse_bool",
           "register", "get_strategy"]

def register(spec: StrategySpec) -> None:
    """Add a strategy (used by the built-in strategy groups and by plug-ins)."""
    REGISTRY[spec.name] = spec


def get_strategy(name: str) -> StrategySpec:
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise SelectionError(
            f"unknown strategy '{name}'{hint}; choose one of: {', '.join(REGISTRY)} (see `alselect strategies`)"
        ) from None
