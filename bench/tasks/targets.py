"""Turning raw target fields into validated numbers, with errors that name file and line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.errors import DataError


@dataclass(frozen=True)
class TargetSpec:
    """How a task reads its target column.

    ``kind`` is ``score`` (a float within ``score_range``) or ``label`` (one of ``labels``,
    mapped to 1 when in ``positive`` and 0 otherwise).
    """

    kind: str
    score_range: tuple[float, float] | None = None
    labels: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("score", "label"):
            raise DataError(f"target kind must be 'score' or 'label', got '{self.kind}'")
        if self.kind == "score" and self.score_range is None:
            raise DataError("a score target needs score_range: [min, max]")
        if self.kind == "label" and not (self.labels and self.positive):
            raise DataError("a label target needs labels and positive")
        unknown = set(self.positive) - set(self.labels)
        if unknown:
            raise DataError(f"positive labels {sorted(unknown)} are not among labels {list(self.labels)}")


def check_sentence(text: object, where: str, column: str) -> str:
    """A sentence must be a non-empty string."""
    if not isinstance(text, str) or (isinstance(text, float) and math.isnan(text)):
        raise DataError(f"{where}: {column} is missing (got {text!r}).")
    if not text.strip():
        raise DataError(f"{where}: {column} is an empty sentence.")
    return text


def convert_target(raw: object, spec: TargetSpec, where: str) -> float:
    """One raw target field -> a float score or a 0/1 label."""
    if spec.kind == "score":
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise DataError(f"{where}: score {raw!r} is not a number.") from None
        low, high = spec.score_range  # type: ignore[misc]
        if not math.isfinite(value):
            raise DataError(f"{where}: score is {value}; scores must be finite numbers in [{low}, {high}].")
        if not low <= value <= high:
            raise DataError(f"{where}: score {value} is outside this task's range [{low}, {high}].")
        return value
    label = str(raw).strip()
    if label not in spec.labels:
        raise DataError(f"{where}: unknown label {label!r}; valid labels: {', '.join(spec.labels)}.")
    return 1.0 if label in spec.positive else 0.0


def convert_targets(raws: Sequence[object], spec: TargetSpec, wheres: Sequence[str]) -> np.ndarray:
    values = [convert_target(raw, spec, where) for raw, where in zip(raws, wheres)]
    dtype = np.float64 if spec.kind == "score" else np.int64
    return np.asarray(values, dtype=dtype)
