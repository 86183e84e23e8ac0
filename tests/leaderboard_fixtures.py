"""Synthetic result folders with known differences, for leaderboard, gate and export tests."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bench.atomic import write_json_atomic
from bench.reports.leaderboard.tables import Suite
from bench.results.record import model_revision, pairs_path, result_path, settings_id, write_pairs_atomic
from bench.scoring import SCORERS

TASKS = {"cdsc_r": ("sts", "CDSC-R"), "cdsc_e": ("pair_classification", "CDSC-E")}


def targets_for(task: str, n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 5, n) if TASKS[task][0] == "sts" else rng.integers(0, 2, n).astype(np.float64)


def similarities(task: str, targets: np.ndarray, noise: float, seed: int) -> dict[str, np.ndarray]:
    """Per-pair values of every score function (as the task's scorer stores them): noisy copies of the targets."""
    rng = np.random.default_rng(seed)
    cosine = targets / targets.max() + noise * rng.normal(size=targets.shape)
    if TASKS[task][0] == "sts":
        return {"cosine": cosine, "manhattan": cosine - 1, "euclidean": cosine - 2}
    return {"similarity": cosine, "cosine": cosine, "manhattan": 1 - cosine, "euclidean": 2 - cosine, "dot": cosine}


def write_result(results: Path, model: str, strategy: str, task: str, pairs: dict[str, np.ndarray],
                 targets: np.ndarray, *, compression: str = "none", dims: int = 64, revision: str = "abc123",
                 ci_width: float = 0.02, task_name: str | None = None, probe: dict | None = None,
                 source: str = "hub", weights: str = "f" * 64, settings: dict | None = None,
                 test_data: dict | None = None, metric: str | None = None, meta: dict | None = None) -> Path:
    task_type, mteb_name = TASKS.get(task, ("sts", task))
    scorer = SCORERS[task_type]
    scores = scorer.metrics(pairs, targets) if not probe else {"main_score": float(pairs["prediction"].mean())}
    main = scores["main_score"]
    if np.isnan(main):  # an undefined correlation is stored as null, as bench.results.record does
        scores = {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in scores.items()}
    else:
        scores["main_score_ci"] = {"low": main - ci_width, "high": main + ci_width, "level": 0.95}
    name = task_name or task
    record = {
        "task_name": mteb_name, "dataset_revision": "data-sha", "evaluation_time": 1.0, "mteb_version": None,
        "scores": {"test": [{**scores, "hf_subset": "default", "languages": ["pol-Latn"]}]},
        "bench": {
            "schema_version": 1, "task": name,
            "main_score_name": metric or (scorer.main_score if not probe else "accuracy"),
            "model": {"name": model, "revision": revision, "resolved_revision": revision, "source": source,
                      "weights_sha256": weights, "hub_id": None if source == "local" else f"org/{model}",
                      "default_pooling": "mean"},
            "pooling": {"slug": strategy.split("+")[0]}, "strategy": strategy,
            "compression": {"method": compression, "dims": dims, "bytes_per_vector": dims * 4},
            "task_config": {"name": task, "type": task_type if not probe else "probe_classification", "lang": "pl",
                            "eval_split": "test"},
            "versions": {"bench": "0.1.0", "torch": "2.13.0", "transformers": "5"}, "git": {"commit": "1234567890ab"},
            "encoding": {"device": "cpu", "dtype": "float32"}, "created": "2026-11-22T00:00:00+00:00",
            **({"probe": probe} if probe else {}),
            **({"test_data": test_data} if test_data else {}),
        },
    }
    for key, value in (meta or {}).items():  # what a fine-tuned or cross-encoder result adds or lacks
        if value is None:
            record["bench"].pop(key, None)
        else:
            record["bench"][key] = value
    settings = settings or {"model": {"max_seq_length": 128}, "data": {"test": "sha256:" + "d" * 64}}
    record["bench"].update(settings=settings, settings_id=settings_id(settings))
    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", model)  # as bench.models.spec.ModelSpec.slug makes it
    path = result_path(results, folder, model_revision(record["bench"]["model"]), strategy, settings_id(settings), name)
    write_json_atomic(path, record)
    write_pairs_atomic(pairs_path(path), pairs, targets)
    return path


#: The suite the synthetic results make complete (the real default, the Polish suite, has six tasks).
SUITE = Suite("test", ("cdsc_e", "cdsc_r"))


def populate(results: Path) -> None:
    """Three models on two tasks: 'good' best, 'twin' equal to it within noise, 'weak' clearly worse."""
    for task in TASKS:
        targets = targets_for(task)
        good = similarities(task, targets, 0.3, 1)
        twin = {k: v + 1e-3 * np.random.default_rng(2).normal(size=v.shape) for k, v in good.items()}
        write_result(results, "good", "mean", task, good, targets)
        write_result(results, "twin", "mean", task, twin, targets)
        write_result(results, "weak", "mean", task, similarities(task, targets, 1.5, 3), targets)
        write_result(results, "good", "cls", task, similarities(task, targets, 0.6, 4), targets)
        for dims in (16, 32):
            write_result(results, "good", f"mean+pca{dims}", task, similarities(task, targets, 0.3 + 4 / dims, dims), targets,
                         compression="pca", dims=dims)


def populate_every_kind(results: Path) -> None:
    """:func:`populate`, plus a probe, a fine-tuned model (a local folder with its lineage) and a cross-encoder
    (no encoding device: it records its training device in its lineage): every kind of row the leaderboard shows."""
    populate(results)
    targets = targets_for("cdsc_e")
    write_result(results, "good", "mean", "cdsc_e", {"prediction": targets}, targets, task_name="cdsc_e.nli_probe",
                 probe={"name": "nli"})
    lineage = {"base_model": "good@abc123", "device": "cpu", "precision": "fp32"}
    for task in TASKS:  # two fine-tuned models with the same per-pair scores: tied best on every task
        targets = targets_for(task)
        for name, weights in (("good-tuned", "e" * 64), ("tuned-twin", "d" * 64)):
            write_result(results, name, "sbert", task, similarities(task, targets, 0.25, 7), targets,
                         revision="local", source="local", weights=weights, meta={"lineage": lineage})
    targets = targets_for("cdsc_r")
    prediction = targets / targets.max() + 0.2 * np.random.default_rng(8).normal(size=targets.shape)
    write_result(results, "good-cross", "cross-encoder", "cdsc_r", {"prediction": prediction, "cosine": prediction,
                 "manhattan": prediction, "euclidean": prediction}, targets, task_name="cdsc_r.cross",
                 revision="local", source="local", weights="c" * 64,
                 meta={"encoding": None, "lineage": lineage,
                       "cross_encoder": {"head": "regression", "task": "cdsc_r", "model_dir": "models/good-cross"},
                       "task_config": {"name": "cdsc_r", "type": "cross_regression", "lang": "pl",
                                       "eval_split": "test"}})
