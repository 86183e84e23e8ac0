"""bench from Python: :func:`evaluate` a model (a name, a folder, or an object in memory) and get a table.

It is the command line without the shell: the same config, composed by Hydra from the same overrides and
checked by the same schema (a typo fails with the command line's message, as a :class:`BenchError`), the same
run pipeline (:func:`bench.run.run`), the same results store and provenance. Settings are keyword arguments
named after the command line's top-level keys; a group of settings is a dict (``encode={"batch_size": 8}`` is
``encode.batch_size=8``), a plain value sets the key itself (``results_dir="out"``, ``seed=1``). One shortcut:
``data_root=DIR`` is ``data={"root": DIR}``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd

from bench.errors import BenchError

log = logging.getLogger(__name__)

#: The columns of :func:`evaluate`'s table, in order.
COLUMNS = ["task", "main_score", "main_score_low", "main_score_high", "main_score_name", "split", "strategy",
           "model", "revision", "stable_identity", "path"]


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def override_value(value) -> str:
    """A Python value in Hydra's override grammar (strings quoted, so any path or prompt passes as is)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return _quote(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    raise BenchError(f"cannot pass a {type(value).__name__} as a setting: give strings, numbers, booleans, None, "
                     f"lists or dicts.")


def settings_overrides(settings: Mapping, prefix: str = "") -> list[str]:
    """Keyword settings as command-line overrides: a dict under a key that the schema types as a group
    (``encode``, ``data``, ``model``) becomes one override per key inside it; anything else is one override."""
    from bench.config import _schema

    out = []
    for key, value in settings.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and _schema(full) is not None:
            out.extend(settings_overrides(value, f"{full}."))
        else:
            out.append(f"{full}={override_value(value)}")
    return out


def _keys(overrides: list[str]) -> set[str]:
    return {o.split("=", 1)[0].lstrip("+~") for o in overrides}


def _in_memory_overrides(model, kind: str, given: set[str]) -> list[str]:
    """``model=hf`` and what the object says about itself (name, pipeline, length, device), unless given."""
    from bench.models.loading import position_limit
    from bench.models.memory import model_device, model_dtype

    out = ["model=hf"]
    encoder = model[0] if kind == "transformers" else model
    config = getattr(encoder, "config", None)
    if kind == "sentence-transformers":
        auto = getattr(model[0], "auto_model", None)
        config = getattr(auto, "config", None)
    label = str(getattr(config, "_name_or_path", "") or "").rstrip("/").rsplit("/", 1)[-1] or \
        encoder.__class__.__name__
    defaults = {"model.name": label, "model.name_or_path": f"memory:{label}",
                "model.has_sbert": kind != "transformers",
                "model.default_pooling": "sbert" if kind != "transformers" else "mean",
                "pooling": "sbert" if kind != "transformers" else None}
    if kind == "sentence-transformers":
        defaults["model.max_seq_length"] = int(model.max_seq_length)
    elif kind == "transformers":
        limit = position_limit(config) if config is not None else None
        defaults["model.max_seq_length"] = min(512, limit) if limit else 512
    device, dtype = model_device(encoder), model_dtype(encoder)
    if device is not None:
        defaults["encode.device"] = device
    if dtype in ("float16", "bfloat16"):
        defaults["encode.half"] = True
    if kind == "encode":
        defaults["cache.enabled"] = False  # nothing identifies its vectors
    for key, value in defaults.items():
        if value is not None and key not in given:
            out.append(f"{key}={value}" if key == "pooling" else f"{key}={override_value(value)}")
    if kind == "encode" and "cache.enabled" in given:
        log.info("an encode-only object has no stable identity: the embedding cache stays off")
        out.append("cache.enabled=false")
    return out


def compose(model, tasks: str, pooling: str | None, settings: Mapping) -> tuple:
    """The config of one evaluation (checked as the command line checks it) and the in-memory kind of ``model``
    (None for a name, hub id or folder)."""
    from bench.launch.cli import compose_checked, rewrite_overrides
    from bench.models.memory import classify

    settings = dict(settings)
    if "data_root" in settings:
        if "data" in settings:
            raise BenchError("give data_root=DIR or data={'root': DIR}, not both.")
        settings["data"] = {"root": settings.pop("data_root")}
    user = settings_overrides(settings)
    kind = classify(model)
    if kind == "encode" and pooling not in (None, "sbert"):
        raise BenchError(f"pooling={pooling} needs the model's hidden states; an object with only encode() gives its "
                         f"own vectors (pooling=sbert, the default). Pass a SentenceTransformer or a (transformers "
                         f"model, tokenizer) pair for other strategies.")
    if kind is None:
        head = [f"model={model}"]
    else:
        head = _in_memory_overrides(model, kind, _keys(user) | ({"pooling"} if pooling else set()))
    if isinstance(tasks, str):
        head.append(f"task={tasks}")
    elif not isinstance(tasks, Mapping):
        raise BenchError(f"tasks must be a task or suite name (e.g. 'polish', 'cdsc_r') or a composed task node, "
                         f"got {tasks!r}.")
    if pooling:
        head.append(f"pooling={pooling}")
    overrides = rewrite_overrides([*head, *user])
    cfg = compose_checked(overrides)
    return (cfg if isinstance(tasks, str) else with_task_node(cfg, tasks)), kind


def with_task_node(cfg, node: Mapping):
    """The config with its ``task`` node replaced by ``node`` (a run config's ``cfg.task``, e.g. narrowed to some
    of a suite's members), checked as a task node is: a bad one fails now with the task's own message."""
    from omegaconf import DictConfig, OmegaConf, open_dict

    from bench.tasks.spec import task_specs

    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    with open_dict(cfg):
        cfg.task = OmegaConf.create(plain)
    if not task_specs(cfg.task):
        raise BenchError("the task node names no task: give a task, or a suite with at least one member.")
    return cfg


def _with_split(cfg, split: str) -> bool:
    """Point every task of the config at ``split``; True when that is not the split they are scored on (then
    held-out thresholds, which are picked on validation, are off, and nothing is stored)."""
    from omegaconf import open_dict

    members = list(cfg.task.tasks.values()) if "tasks" in cfg.task else [cfg.task]
    other = False
    with open_dict(cfg):
        for member in members:
            other |= split != member.get("eval_split", "test")
            member.eval_split = split
        if other:
            cfg.scoring.heldout_thresholds = False
    return other


@contextlib.contextmanager
def eval_mode(model) -> Iterator[None]:
    """A torch model in eval mode (no dropout) for the evaluation, then back in the mode it was in."""
    module = model[0] if isinstance(model, tuple) else model
    training = getattr(module, "training", None)
    if training is None or not hasattr(module, "train"):
        yield
        return
    module.train(False)
    try:
        yield
    finally:
        module.train(training)


@contextlib.contextmanager
def random_state_kept() -> Iterator[None]:
    """Python's, numpy's and torch's random state as they were before: a run seeds them (``seed``), and an
    evaluation in the middle of training must not change what the training draws next."""
    import random

    import numpy as np
    import torch

    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def in_memory_model(model, cfg):
    """The object as the run's model (:class:`bench.models.memory.InMemoryModel`), digested as it is now."""
    from bench.models.memory import InMemoryModel
    from bench.models.spec import ModelSpec

    spec = dataclasses.replace(ModelSpec.from_config(cfg.model), hub_id=None)  # no hub copy is these weights
    return InMemoryModel.of(model, spec)


def _spec_slug(model: dict) -> str:
    from bench.models.spec import ModelSpec

    return ModelSpec(**{f.name: (tuple(sorted((model.get("prompts") or {}).items())) if f.name == "prompts"
                                 else model.get(f.name)) for f in dataclasses.fields(ModelSpec)}).slug


def rows(records: list[dict], results_dir, stored: bool) -> pd.DataFrame:
    """One row per result record (the table :func:`evaluate` returns)."""
    from bench.results.record import Result, result_path

    out = []
    for record in records:
        result = Result.of(record)
        interval = result.interval
        path = result_path(results_dir, _spec_slug(result.model), result.revision, result.strategy,
                           result.settings_id, result.task) if stored else None
        out.append({"task": result.task, "main_score": result.main_score, "main_score_low": interval.get("low"),
                    "main_score_high": interval.get("high"), "main_score_name": result.main_score_name,
                    "split": result.split, "strategy": result.strategy, "model": result.model_name,
                    "revision": result.revision, "stable_identity": result.model.get("stable_identity", True),
                    "path": str(path) if path is not None else None})
    return pd.DataFrame(out, columns=COLUMNS)


def evaluate(model, /, tasks: str = "polish", pooling: str | None = None, *, split: str | None = None,
             **settings) -> pd.DataFrame:
    """Evaluate ``model`` on a task or suite, as ``python -m bench`` does, and return the main scores.

    Args:
        model: a model config name (``"minilm"``), a hub id or a local model folder (as on the command line),
            a ``sentence_transformers.SentenceTransformer``, a ``(transformers model, tokenizer)`` pair, or any
            object with ``encode(list[str]) -> array``. Objects are evaluated as they are in memory (their
            device and dtype, in eval mode for the call); their identity is a digest of their weights,
            tokenizer and pipeline, so a model changed in place is a new model and nothing of the old one is
            reused. An encode-only object has no such identity: no cache, a new revision every call
            (``transient-...``), ``stable_identity`` False. An object is named after the folder or hub id it
            was loaded from (its config's ``_name_or_path``); ``model={"name": "mine"}`` names it.
        tasks: a task or suite name of ``conf/task`` (``"polish"``, ``"cdsc_r"``), or a composed ``task`` node
            (a run config's ``cfg.task``, possibly narrowed to some of a suite's members).
        pooling: the embedding strategy (a ``conf/pooling`` name); None: the model's default (``sbert`` for a
            SentenceTransformer or encode object, ``mean`` for a transformers model).
        split: score this split of every task instead of its evaluation split (e.g. ``"validation"`` during
            training). Scores of a split other than the tasks' own are returned but not stored (``path`` is
            None): the results store and leaderboard hold test scores only.
        **settings: the command line's settings by top-level key: ``results_dir="out"``, ``seed=1``,
            ``overwrite="always"``, ``encode={"batch_size": 8}``, ``stats={"bootstrap": 0}``,
            ``model={"max_seq_length": 128}``; ``data_root=DIR`` is short for ``data={"root": DIR}``.

    Returns:
        One row per task: ``task``, ``main_score``, ``main_score_low``/``main_score_high`` (the bootstrap
        interval), ``main_score_name``, ``split``, ``strategy``, ``model``, ``revision``, ``stable_identity``
        and ``path`` (the result file written, or kept when it existed with this exact identity).

    Raises:
        BenchError: bad input (an unknown task, setting or model, a wrong type, missing data), with the
            command line's message; nothing is written.

    Example:
        >>> import bench
        >>> bench.evaluate("minilm", tasks="cdsc_r", data_root="../shared/data")[["task", "main_score"]]
             task  main_score
        0  cdsc_r    0.794493
    """
    from bench.run import run

    cfg, kind = compose(model, tasks, pooling, settings)
    other_split = _with_split(cfg, split) if split is not None else False
    store = not other_split
    if kind is None:
        records = run(cfg, store=store)
    else:
        with eval_mode(model), random_state_kept():
            records = run(cfg, in_memory_model(model, cfg), store=store)
    order = {name: i for i, name in enumerate(_task_order(cfg))}
    frame = rows(records, cfg.results_dir, store)
    return frame.sort_values("task", key=lambda s: s.map(lambda t: order.get(t, len(order)))).reset_index(drop=True)


def _task_order(cfg) -> list[str]:
    from bench.tasks.spec import task_specs

    return [spec.result_name for spec in task_specs(cfg.task)]
