"""Zero-shot scoring: similarities of the two sentences' vectors against the gold targets, with MTEB's
metrics (correlations for STS; AP, accuracy and F1 at the test-picked thresholds for pair classification)
and, for pair classification, thresholds picked on the validation split and applied to test."""

from __future__ import annotations

from dataclasses import dataclass

from bench.encoding.vectors import TaskVectors
from bench.evaluators.base import Evaluation, check_scorable, with_interval
from bench.scoring import SCORERS, data_problem
from bench.scoring.pair_classification import heldout_metrics
from bench.tasks.schema import PairData
from bench.tasks.spec import TaskSpec


@dataclass(frozen=True)
class ZeroShot:
    heldout_thresholds: bool
    resamples: int
    level: float
    seed: int
    name: str = "zero-shot"

    def select(self, specs: list[TaskSpec]) -> list[TaskSpec]:
        return specs

    def splits(self, spec: TaskSpec, available: tuple[str, ...]) -> set[str]:
        if self.heldout_thresholds and spec.type == "pair_classification" and spec.heldout_split in available:
            return {spec.heldout_split}
        return set()

    def check(self, spec: TaskSpec, data: dict[str, PairData]) -> None:
        """Before any encoding: the main score is defined on the evaluated split, and held-out thresholds
        can be picked on the held-out split (both classes present)."""
        split = data[spec.eval_split]
        check_scorable(spec.result_name, spec.eval_split, split, data_problem(spec.type, split.targets))
        heldout = self._heldout(spec, data)
        if heldout is not None:
            check_scorable(spec.result_name, spec.heldout_split, heldout, data_problem(spec.type, heldout.targets))

    def output_name(self, spec: TaskSpec) -> str:
        return spec.result_name

    def _heldout(self, spec: TaskSpec, data: dict[str, PairData]) -> PairData | None:
        return data.get(spec.heldout_split) if self.splits(spec, tuple(data)) else None

    def settings(self, spec: TaskSpec, data: dict[str, PairData]) -> dict:
        return {"heldout_thresholds": self._heldout(spec, data) is not None}

    def evaluate(self, spec: TaskSpec, data: dict[str, PairData], vectors: TaskVectors) -> Evaluation:
        split = data[spec.eval_split]
        scorer = SCORERS[spec.type]
        pairs = scorer.pair_scores(*vectors.pairs(split))
        scores = scorer.metrics(pairs, split.targets)
        heldout = self._heldout(spec, data)
        if heldout is not None:
            held_pairs = scorer.pair_scores(*vectors.pairs(heldout))
            scores.update(heldout_metrics(held_pairs, heldout.targets, pairs, split.targets))
            scores["heldout_split"] = spec.heldout_split
        with_interval(scores, scorer.main, pairs, split.targets, self.resamples, self.level, self.seed)
        return Evaluation(scores, scorer.main_score, spec.type, pairs, split.targets)
