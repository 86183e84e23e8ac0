"""The vectors one task is scored on: the strategy's (cached) vectors, compressed as configured.

The compressor is fitted on the fit split's distinct sentences (never the evaluated split) the first time a
split's vectors are asked for; every split of the task then goes through the same fitted compressor.
"""

from __future__ import annotations

import numpy as np

from bench.encoding.compress import CompressionSpec, Compressor
from bench.encoding.encode import Encoded
from bench.tasks.schema import PairData


class TaskVectors:
    def __init__(self, encoded: Encoded, strategy: str, compression: CompressionSpec, fit: PairData | None,
                 task: str):
        self.encoded, self.strategy, self.compression, self.fit, self.task = encoded, strategy, compression, fit, task
        self._compressor: Compressor | None = None
        self.described: dict = {}

    def _fitted(self, dims: int) -> Compressor:
        if self._compressor is None:
            fit_vectors = (self.encoded.lookup(self.strategy, list(dict.fromkeys(self.fit.sentences)))
                           if self.fit is not None else np.zeros((0, dims), np.float32))
            self._compressor = self.compression.build().fit(fit_vectors)
            self.described = self._compressor.describe(dims)
            if self.fit is not None:
                self.described["fit"] = {"task": self.compression.fit_task or self.task,
                                         "split": self.compression.fit_split, "sentences": int(fit_vectors.shape[0]),
                                         "source": self.fit.source}
        return self._compressor

    def pairs(self, part: PairData) -> tuple[np.ndarray, np.ndarray]:
        """Both sides of a split's pairs, compressed as configured (the view similarities are computed on)."""
        sides = [self.encoded.lookup(self.strategy, side) for side in (part.sentence1, part.sentence2)]
        compressor = self._fitted(sides[0].shape[1])
        return tuple(compressor.scoring_view(compressor.transform(v), self.described["dims"]) for v in sides)
