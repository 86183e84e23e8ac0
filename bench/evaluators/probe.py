"""Trained probes (SentEval's protocol) on frozen embeddings: a small model fitted on train features
``[u, v, |u-v|, u*v]``, its regularisation chosen on validation, scored once on test (:mod:`bench.probes`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.data.schema import PairData
from bench.errors import BenchError
from bench.evaluators.base import Evaluation, check_scorable, main_function, with_interval
from bench.probes import ProbeSpec, fit_and_score, label_indices, pair_features
from bench.scoring import SCORERS, too_few_pairs
from bench.tasks import TaskSpec
from bench.vectors import TaskVectors

#: A probe is fitted on train and its regularisation chosen on validation.
PROBE_SPLITS = ("train", "validation")


@dataclass(frozen=True)
class ProbeEvaluator:
    probe: ProbeSpec
    resamples: int
    level: float
    seed: int

    @property
    def name(self) -> str:
        return f"{self.probe.name}_probe"

    def select(self, specs: list[TaskSpec]) -> list[TaskSpec]:
        """The run's tasks the probe applies to (by name, or name.lang); an error when there are none."""
        probe = self.probe
        chosen = [spec for spec in specs if spec.name in probe.tasks or spec.result_name in probe.tasks]
        if not chosen:
            raise BenchError(f"probe={probe.name} applies to {', '.join(probe.tasks)}, and this run's tasks are "
                             f"{', '.join(s.result_name for s in specs)}; use task=polish or one of those tasks.")
        wanted_type = "pair_classification" if probe.kind == "classification" else "sts"
        for spec in chosen:
            if spec.type != wanted_type:
                raise BenchError(f"probe={probe.name} ({probe.kind}) needs {wanted_type} tasks; {spec.result_name} "
                                 f"is {spec.type}.")
        return chosen

    def splits(self, spec: TaskSpec, available: tuple[str, ...]) -> set[str]:
        return set(PROBE_SPLITS)

    def check(self, spec: TaskSpec, data: dict[str, PairData]) -> None:
        """Before any encoding: train and validation are there, and their labels are the probe's."""
        names = (*PROBE_SPLITS, spec.eval_split)
        missing = [name for name in names if name not in data]
        if missing:
            where = (f"its hub copy {spec.hub.path} has no {' or '.join(missing)} split" if spec.hub_only
                     else "which this data source lacks; set data.root to the original files")
            raise BenchError(f"probe={self.probe.name} needs the {', '.join(missing)} split(s) of {spec.result_name}: "
                             f"{where}.")
        for name in names:
            self.targets(data[name], f"{spec.result_name}/{name}")
        test = data[spec.eval_split]
        problem = too_few_pairs(test.targets)
        if self.probe.kind == "regression":  # Spearman of predictions with the gold scores
            problem = problem or SCORERS["sts"].data_problem(test.targets)
        check_scorable(spec.result_name, spec.eval_split, test, problem)

    def output_name(self, spec: TaskSpec) -> str:
        """``cdsc_e.nli_probe``: the result's name in files and tables."""
        return f"{spec.result_name}.{self.name}"

    def settings(self, spec: TaskSpec, data: dict[str, PairData]) -> dict:
        return {"probe": self.probe.describe()}

    def targets(self, part: PairData, where: str) -> np.ndarray:
        if self.probe.kind == "classification":
            return label_indices(part.raw_labels, self.probe.labels, where)
        return np.asarray(part.targets, dtype=np.float64)

    def evaluate(self, spec: TaskSpec, data: dict[str, PairData], vectors: TaskVectors) -> Evaluation:
        def features(name: str) -> tuple[np.ndarray, np.ndarray]:
            x = pair_features(*vectors.pairs(data[name]), self.probe.features)
            return x, self.targets(data[name], f"{spec.result_name}/{name}")

        test = features(spec.eval_split)
        result = fit_and_score(self.probe, features("train"), features("validation"), test, seed=self.seed)
        task_type = f"probe_{self.probe.kind}"
        pairs = {"prediction": result.predictions}
        scores = {**result.metrics, "probe_selection": result.selection}
        with_interval(scores, main_function(task_type), pairs, test[1], self.resamples, self.level, self.seed)
        return Evaluation(scores, self.probe.main_score, task_type, pairs, test[1],
                          extra={"probe": self.probe.describe()})
