"""Evaluation modes, one module each, behind one small protocol.

An evaluator says which of a run's tasks it applies to, which splits it reads, what it checks before any
encoding, what it adds to a result's identity, and how it scores a task from that task's vectors. The
run pipeline (:mod:`bench.run`) does the rest (data, model, encoding, writing). Zero-shot similarity
scoring (:mod:`~bench.evaluators.zero_shot`) and the trained probes (:mod:`~bench.evaluators.probe`) are
the modes; a new one (a cross-encoder, retrieval) is one more module and one more config group.
"""

from __future__ import annotations

from typing import Protocol

from omegaconf import DictConfig

from bench.encoding.vectors import TaskVectors
from bench.evaluators.base import Evaluation, with_interval  # noqa: F401 -- the package's face
from bench.tasks.schema import PairData
from bench.tasks.spec import TaskSpec


class Evaluator(Protocol):
    name: str

    def select(self, specs: list[TaskSpec]) -> list[TaskSpec]: ...

    def splits(self, spec: TaskSpec, available: tuple[str, ...]) -> set[str]: ...

    def check(self, spec: TaskSpec, data: dict[str, PairData]) -> None: ...

    def output_name(self, spec: TaskSpec) -> str: ...

    def settings(self, spec: TaskSpec, data: dict[str, PairData]) -> dict: ...

    def evaluate(self, spec: TaskSpec, data: dict[str, PairData], vectors: TaskVectors) -> Evaluation: ...


def evaluator_for(cfg: DictConfig) -> Evaluator:
    """The run's evaluation mode: a trained probe when ``probe=`` is set, else zero-shot scoring."""
    stats = cfg.get("stats") or {}
    intervals = (int(stats.get("bootstrap")), float(stats.get("level")), int(cfg.seed))
    if cfg.get("probe"):
        from bench.evaluators.probe import ProbeEvaluator, ProbeSpec

        return ProbeEvaluator(ProbeSpec.from_config(cfg.probe), *intervals)
    from bench.evaluators.zero_shot import ZeroShot

    return ZeroShot(bool(cfg.scoring.heldout_thresholds), *intervals)
