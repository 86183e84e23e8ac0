"""The in-memory form of one split of a sentence-pair task."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PairData:
    """Sentence pairs with one target each: a gold score (STS) or a 0/1 label (pair classification).

    ``raw_labels`` keeps the original label strings (e.g. NEUTRAL/CONTRADICTION/ENTAILMENT) so that
    later stages (3-way NLI probes) can use them; ``source`` records where the data came from.
    """

    sentence1: list[str]
    sentence2: list[str]
    targets: np.ndarray
    raw_labels: list[str] = field(default_factory=list)
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.sentence1)
        if len(self.sentence2) != n or len(self.targets) != n:
            raise ValueError("sentence1, sentence2 and targets must have the same length")

    def __len__(self) -> int:
        return len(self.sentence1)

    @property
    def sentences(self) -> list[str]:
        """All sentences of the split, pairs flattened (duplicates kept)."""
        return [*self.sentence1, *self.sentence2]
