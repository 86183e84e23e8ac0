"""Trained probes on frozen embeddings (the SentEval protocol; Conneau & Kiela 2018, Dadas et al. 2020).

A probe turns the two sentence vectors of a pair into the features ``[u, v, |u - v|, u * v]`` and
fits a small model on the *train* split: multinomial logistic regression for 3-way NLI
(``probe=nli``), ridge regression for relatedness scores (``probe=relatedness``). Its
regularisation strength is chosen on the *validation* split only; the chosen model (fitted on train)
is then scored once on test. Features are standardised with statistics of the train split.

The fitting is pure functions of arrays; :class:`ProbeEvaluator` is the evaluator (``probe=...``) that gives
them the (cached) embeddings of each split.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench.encoding.vectors import TaskVectors
from bench.errors import BenchError, unknown_choice
from bench.evaluators.base import Evaluation, check_scorable, with_interval
from bench.results.record import ResultKind
from bench.scoring import SCORERS, main_function, too_few_pairs
from bench.tasks.schema import PairData
from bench.tasks.spec import TaskSpec

log = logging.getLogger(__name__)

FEATURES = {
    "u": lambda u, v: u,
    "v": lambda u, v: v,
    "absdiff": lambda u, v: np.abs(u - v),
    "prod": lambda u, v: u * v,
}
KINDS = ("classification", "regression")
MAIN_SCORES = {"classification": "accuracy", "regression": "spearman"}


@dataclass(frozen=True)
class ProbeSpec:
    """A probe as configured in ``conf/probe/*.yaml``."""

    name: str
    kind: str
    tasks: tuple[str, ...]
    features: tuple[str, ...] = ("u", "v", "absdiff", "prod")
    grid: tuple[float, ...] = ()
    max_iter: int = 2000
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise unknown_choice("probe kind", self.kind, KINDS)
        for feature in self.features:
            if feature not in FEATURES:
                raise unknown_choice("probe feature", feature, FEATURES)
        if not self.grid or any(not value > 0 for value in self.grid):
            raise BenchError(f"probe '{self.name}': grid must list positive regularisation values, got {list(self.grid)}.")
        if self.kind == "classification" and len(self.labels) < 2:
            raise BenchError(f"probe '{self.name}' classifies, so it needs at least two labels.")

    @property
    def main_score(self) -> str:
        return MAIN_SCORES[self.kind]

    @classmethod
    def from_config(cls, cfg) -> ProbeSpec:
        c = dict(cfg)
        try:
            return cls(name=str(c["name"]), kind=str(c["kind"]), tasks=tuple(c["tasks"]),
                       features=tuple(c.get("features") or cls.features), grid=tuple(float(x) for x in c["grid"]),
                       max_iter=int(c.get("max_iter", cls.max_iter)), labels=tuple(str(x) for x in c.get("labels") or ()))
        except KeyError as exc:
            raise BenchError(f"probe config '{c.get('name', '?')}' lacks the key {exc}.") from None

    def describe(self) -> dict:
        model = ("multinomial logistic regression (lbfgs), grid over C = inverse L2 strength"
                 if self.kind == "classification" else "ridge regression, grid over alpha = L2 strength")
        return {"name": self.name, "kind": self.kind, "model": model, "features": list(self.features),
                "grid": list(self.grid), "standardised_on": "train", "selected_on": "validation",
                "labels": list(self.labels)}


def pair_features(u: np.ndarray, v: np.ndarray, features: Sequence[str] = ("u", "v", "absdiff", "prod")) -> np.ndarray:
    """The SentEval pair representation, e.g. ``[u, v, |u-v|, u*v]`` (float32)."""
    if u.shape != v.shape:
        raise ValueError(f"u and v differ in shape: {u.shape} vs {v.shape}")
    return np.hstack([FEATURES[name](u, v) for name in features]).astype(np.float32, copy=False)


def label_indices(raw_labels: Sequence[str], labels: Sequence[str], where: str) -> np.ndarray:
    """Original label strings -> class indices in ``labels`` order, with a clear error for others."""
    if not raw_labels:
        raise BenchError(f"{where} has no original labels; the probe needs the 3-way labels of the original files "
                         f"(set data.root; hub copies hold binary labels only).")
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(raw_labels) - set(index))
    if unknown and set(raw_labels) <= {"0", "1"}:
        raise BenchError(f"{where} has binary labels (1 = {labels[-1]}, 0 = the rest), as the hub copies do; the "
                         f"3-way probe needs {', '.join(labels)}: set data.root to the original files.")
    if unknown:
        raise BenchError(f"{where} has labels {unknown} that the probe does not know; valid: {', '.join(labels)}.")
    return np.fromiter((index[label] for label in raw_labels), dtype=np.int64, count=len(raw_labels))


def _model(spec: ProbeSpec, strength: float, seed: int):
    if spec.kind == "classification":
        head = LogisticRegression(C=strength, max_iter=spec.max_iter, random_state=seed)
    else:
        head = Ridge(alpha=strength)
    return make_pipeline(StandardScaler(), head)


def probe_metrics(kind: str, targets: np.ndarray, predictions: np.ndarray) -> dict:
    """Test metrics: accuracy and macro-F1 (classification), Pearson and Spearman (regression)."""
    if kind == "classification":
        return {"accuracy": float(accuracy_score(targets, predictions)),
                "f1_macro": float(f1_score(targets, predictions, average="macro"))}
    return {"pearson": float(pearsonr(predictions, targets)[0]), "spearman": float(spearmanr(predictions, targets)[0])}


def main_metric(kind: str, targets: np.ndarray, predictions: np.ndarray) -> float:
    """The main score alone (accuracy, or Spearman), as in :func:`probe_metrics`: it runs once per
    grid value and once per bootstrap resample, where the other metrics would be wasted work."""
    if kind == "classification":
        return float(np.mean(np.asarray(targets) == np.asarray(predictions)))
    return float(spearmanr(predictions, targets)[0])


@dataclass(frozen=True)
class ProbeResult:
    metrics: dict
    predictions: np.ndarray
    selection: dict


def fit_and_score(spec: ProbeSpec, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray],
                  test: tuple[np.ndarray, np.ndarray], seed: int = 0) -> ProbeResult:
    """Fit one model per grid value on train, keep the best on validation, score it on test.

    Each argument is ``(features, targets)``. The test targets are used only after the choice.
    """
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = train, validation, test
    if spec.kind == "classification" and len(np.unique(y_train)) < 2:
        raise BenchError(f"probe '{spec.name}': the train split has a single class ({np.unique(y_train).tolist()}); "
                         f"a classifier needs at least two of {list(spec.labels)}.")
    main = spec.main_score
    by_value: dict[float, float] = {}
    best = None
    for strength in spec.grid:
        model = _model(spec, strength, seed).fit(x_train, y_train)
        score = main_metric(spec.kind, y_val, model.predict(x_val))
        by_value[strength] = score
        log.info("probe %s: %s=%g -> validation %s %.4f", spec.name,
                 "C" if spec.kind == "classification" else "alpha", strength, main, score)
        if best is None or score > by_value[best[0]]:
            best = (strength, model)
    chosen, model = best
    if len(spec.grid) > 1 and chosen in (min(spec.grid), max(spec.grid)):
        log.warning("probe %s: the chosen value %g is at the edge of the grid %s; consider widening probe.grid.",
                    spec.name, chosen, list(spec.grid))
    predictions = model.predict(x_test)
    metrics = probe_metrics(spec.kind, y_test, predictions)
    metrics["main_score"] = metrics[main]
    selection = {"parameter": "C" if spec.kind == "classification" else "alpha", "chosen": chosen,
                 "validation_" + main: {str(k): v for k, v in by_value.items()},
                 "train_pairs": len(y_train), "validation_pairs": len(y_val)}
    return ProbeResult(metrics, np.asarray(predictions, dtype=np.float64), selection)


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
                          extra={"probe": self.probe.describe()}, kind=ResultKind.PROBE)
