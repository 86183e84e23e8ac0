"""One fine-tuning run: recipe -> data -> model -> trainer (selection on validation) -> saved model
with its lineage -> evaluation on the suite by the harness.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from bench.atomic import write_json_atomic
from bench.encode import pick_device
from bench.errors import BenchError, unknown_choice
from bench.models.loading import LINEAGE_FILE, ResolvedModel, check_custom_modules, resolve
from bench.models.spec import ModelSpec
from bench.models.weights import restricted_unpickling
from bench.provenance import git_commit, package_versions
from bench.tasks import TaskSpec, task_specs
from bench.train.callbacks import ElapsedTime, elapsed_before
from bench.train.data import LOSS_DATA, load_training_splits, training_dataset
from bench.train.objectives import LOSSES, build_loss
from bench.train.validation import ValidationEvaluator, ValidationSet

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
NUMERIC = {"epochs": float, "batch_size": int, "learning_rate": float, "warmup_ratio": float, "weight_decay": float,
           "eval_steps": int, "max_steps": int, "seed": int, "save_total_limit": int, "max_train_pairs": int}
POOLINGS = ("mean", "cls", "max")
#: Valid ranges of the numeric recipe fields (checked before any data or model is loaded).
RANGES = (
    ("batch_size", lambda v: v >= 2, "an integer >= 2 (pair losses need two examples per batch)"),
    ("eval_steps", lambda v: v >= 1, "an integer >= 1"),
    ("learning_rate", lambda v: v > 0, "a number > 0"),
    ("warmup_ratio", lambda v: 0 <= v < 1, "a fraction of the training steps in [0, 1)"),
    ("weight_decay", lambda v: v >= 0, "a number >= 0"),
    ("save_total_limit", lambda v: v >= 1, "an integer >= 1 (the best checkpoint must be kept)"),
    ("max_train_pairs", lambda v: v >= 1, "null (all pairs) or an integer >= 1"),
)


@dataclass(frozen=True)
class Recipe:
    """A ``conf/train/*.yaml`` recipe."""

    name: str
    loss: str
    tasks: tuple[str, ...]
    select_on: tuple[str, ...]
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    eval_steps: int = 50
    max_steps: int = -1
    seed: int = 42
    pooling: str = "mean"
    matryoshka: tuple[int, ...] = ()
    length_grouped: bool = True
    precision: str = "auto"
    output_dir: str = "models"
    resume: bool = True
    save_total_limit: int = 2
    max_train_pairs: int | None = None
    evaluate_after: bool = True
    evaluate_base: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise unknown_choice("train.loss", self.loss, LOSSES)
        if self.precision not in PRECISIONS:
            raise unknown_choice("train.precision", self.precision, PRECISIONS)
        if self.pooling not in POOLINGS:
            raise unknown_choice("train.pooling (for a raw encoder)", self.pooling, POOLINGS)
        for key, valid, expected in RANGES:
            value = getattr(self, key)
            if value is not None and not valid(value):
                raise BenchError(f"train.{key}={value} is not valid: expected {expected}.")
        if not (self.epochs > 0 or self.max_steps > 0):
            raise BenchError("train.epochs must be > 0 (or set train.max_steps).")
        if not self.tasks or not self.select_on:
            raise BenchError("a recipe needs train.tasks (what to train on) and train.select_on (validation splits).")

    @classmethod
    def from_config(cls, cfg) -> Recipe:
        c = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        fields = cls.__dataclass_fields__
        unknown = sorted(set(c) - set(fields))
        if unknown:
            raise BenchError(f"unknown train setting(s) {unknown}; valid: {', '.join(sorted(fields))}.")
        for key in ("tasks", "select_on", "matryoshka"):
            c[key] = tuple(c.get(key) or ())
        for key, kind in NUMERIC.items():
            if c.get(key) is not None:
                try:
                    c[key] = kind(c[key])
                except (TypeError, ValueError):
                    raise BenchError(f"train.{key}={c[key]!r} is not a number.") from None
        try:
            c["matryoshka"] = tuple(int(d) for d in c["matryoshka"])
        except (TypeError, ValueError):
            raise BenchError(f"train.matryoshka must list integer dimensions, got {list(c['matryoshka'])}.") from None
        return cls(**c)


def pick_specs(names: tuple[str, ...], specs: list[TaskSpec], role: str) -> list[TaskSpec]:
    by_name = {s.name: s for s in specs} | {s.result_name: s for s in specs}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise BenchError(f"train.{role} names {missing}, which are not in the task suite; valid: "
                         f"{', '.join(sorted(by_name))}.")
    return list({by_name[n].result_name: by_name[n] for n in names}.values())


def selection_evaluator(specs: list[TaskSpec], splits, batch_size: int, prompt: str = "") -> tuple[ValidationEvaluator, str]:
    """Validation-only evaluator (the harness's main score per task, mean over several) and the name
    of the metric that picks the checkpoint kept."""
    sets = [ValidationSet(spec.result_name, spec.type, list(part.sentence1), list(part.sentence2),
                          np.asarray(part.targets))
            for spec in specs for part in [splits[spec.result_name]["validation"]]]
    evaluator = ValidationEvaluator(sets, batch_size=batch_size, prompt=prompt)
    return evaluator, f"{evaluator.name}_{evaluator.primary_metric}"


def build_model(resolved: ResolvedModel, pooling: str, device: str):
    """The base as a sentence-transformers model: its own pipeline when it has one, else the raw
    encoder with the recipe's pooling added. Pickled weights load through the restricted unpickler."""
    from sentence_transformers import SentenceTransformer, models

    trust = resolved.spec.trust_remote_code
    model_kwargs = {"use_safetensors": not resolved.weights.pickled or None}
    try:
        with restricted_unpickling():
            if (resolved.path / "modules.json").is_file():
                check_custom_modules(resolved)
                model = SentenceTransformer(str(resolved.path), device=device, trust_remote_code=trust,
                                            model_kwargs=model_kwargs)
            else:
                transformer = models.Transformer(str(resolved.path), max_seq_length=resolved.spec.max_seq_length,
                                                 model_kwargs={**model_kwargs, "trust_remote_code": trust})
                dim = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
                model = SentenceTransformer(modules=[transformer, models.Pooling(dim(), pooling_mode=pooling)],
                                            device=device)
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(f"cannot load '{resolved.spec.name}' from {resolved.path} for training: "
                         f"{exc.__class__.__name__}: {exc}") from None
    model.default_prompt_name = None  # prompts are bench's (model.prompts)
    model.max_seq_length = resolved.spec.max_seq_length
    return model


def training_prompt(base: ModelSpec, specs: list[TaskSpec]) -> str:
    """The prompt training and selection put before every sentence: the one evaluation uses for these
    tasks' type, so the model is trained on what it will be tested on."""
    prompts = {base.prompt(spec.type) for spec in specs}
    if len(prompts) > 1:
        raise BenchError(f"model '{base.name}' has different prompts for the task types of this recipe "
                         f"({dict(base.prompts)}); train on tasks of one type, or give them one prompt.")
    return prompts.pop()


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 arithmetic in hardware (AMX or AVX512-BF16), where bf16 autocast is
    faster than fp32; elsewhere it is emulated and slower."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(check() for check in checks if check is not None)


def precision_flags(precision: str, device: str) -> dict:
    """auto: bf16 where the GPU supports it, else fp16 on CUDA; on CPU bf16 autocast when the CPU has
    bf16 in hardware, else fp32; fp32 on MPS. fp32 master weights throughout (mixed precision)."""
    if precision == "auto":
        if device.startswith("cuda"):
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif device == "cpu" and cpu_has_native_bf16():
            precision = "bf16"
        else:
            precision = "fp32"
    if precision == "fp16" and not device.startswith("cuda"):
        raise BenchError(f"train.precision=fp16 needs a CUDA GPU; this run is on {device} (valid here: auto, fp32"
                         f"{', bf16' if device == 'cpu' else ''}).")
    if precision == "bf16" and device == "mps":
        raise BenchError("train.precision=bf16 is not supported on mps; use auto or fp32.")
    if precision == "bf16" and device == "cpu" and not cpu_has_native_bf16():
        log.warning("train.precision=bf16 on a CPU without bf16 hardware is emulated and slower than fp32.")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16", "name": precision}


def latest_checkpoint(directory: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(directory)) if directory.is_dir() else None


#: Recipe fields that do not change what is trained (they may differ between a run and its resumption).
NOT_TRAINING = frozenset({"output_dir", "resume", "evaluate_after", "evaluate_base", "save_total_limit"})


def run_digest(recipe: Recipe, base: ModelSpec, splits) -> str:
    """8 hex digits over everything that shapes the training: the recipe's training fields, the base
    model and the data files. Runs that differ in any of them never share a checkpoint folder."""
    identity = {"recipe": {k: v for k, v in asdict(recipe).items() if k not in NOT_TRAINING},
                "base": base.as_dict(),
                "data": {task: {split: part.source.get("sha256") or part.source.get("revision")
                                for split, part in parts.items()} for task, parts in sorted(splits.items())}}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]


def output_folder(recipe: Recipe, base: ModelSpec, digest: str) -> Path:
    return Path(recipe.output_dir) / f"{base.name.replace('/', '__')}-{recipe.name}-seed{recipe.seed}-{digest}"


def train(cfg: DictConfig) -> dict:
    """Fine-tune, save, and (by default) evaluate; returns a summary dict (also in the lineage file)."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import set_seed

    recipe = Recipe.from_config(cfg.train)
    set_seed(recipe.seed)
    base = ModelSpec.from_config(cfg.model)
    specs = task_specs(cfg.task)
    train_specs = pick_specs(recipe.tasks, specs, "tasks")
    select_specs = pick_specs(recipe.select_on, specs, "select_on")
    splits = load_training_splits(list({s.result_name: s for s in train_specs + select_specs}.values()),
                                  cfg.data.root, check_rows=bool(cfg.data.get("check_rows", True)))
    dataset = training_dataset(recipe.loss, train_specs, splits)
    if recipe.max_train_pairs:
        dataset = dataset.shuffle(seed=recipe.seed).select(range(min(recipe.max_train_pairs, len(dataset))))
    resolved = resolve(base)
    device = pick_device(str(cfg.encode.device))
    precision = precision_flags(recipe.precision, device)
    model = build_model(resolved, recipe.pooling, device)
    loss = build_loss(recipe.loss, model, list(recipe.matryoshka) or None)
    prompt = training_prompt(base, train_specs + select_specs)
    evaluator, metric = selection_evaluator(select_specs, splits, batch_size=max(32, recipe.batch_size), prompt=prompt)
    out = output_folder(recipe, base, run_digest(recipe, base, splits))
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=max(32, recipe.batch_size),
        learning_rate=recipe.learning_rate,
        **_warmup(recipe.warmup_ratio),
        weight_decay=recipe.weight_decay,
        eval_strategy="steps",
        eval_steps=recipe.eval_steps,
        eval_on_start=True,  # the base model's validation score is the first entry of the history
        save_strategy="steps",
        save_steps=recipe.eval_steps,
        save_total_limit=recipe.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=f"eval_{metric}",
        greater_is_better=True,
        logging_steps=max(1, recipe.eval_steps // 2),
        seed=recipe.seed,
        data_seed=recipe.seed,
        bf16=precision["bf16"],
        fp16=precision["fp16"],
        use_cpu=device == "cpu",
        report_to="none",
        batch_sampler=_sampler(recipe),
        disable_tqdm=not bool(cfg.encode.get("progress", True)),
        prompts=prompt or None,  # the base model's prompt for these task types (model.prompts), as in evaluation
    )
    checkpoint = latest_checkpoint(out / "checkpoints") if recipe.resume else None
    if checkpoint:
        log.info("resuming from %s", checkpoint)
    clock = ElapsedTime(elapsed_before(checkpoint))
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator,
                                         callbacks=[clock])
    log.info("training on %s, %d process(es), %s, %d examples -> %s", device, args.world_size, precision["name"],
             len(dataset), out)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    final = out / "model"
    if not trainer.is_world_process_zero():  # torchrun / accelerate: one process saves and evaluates
        return {"model_dir": str(final), "process_index": args.process_index}
    model.save(str(final), safe_serialization=True)
    lineage = lineage_record(recipe, resolved, splits, train_specs, select_specs, trainer, len(dataset), device,
                             precision["name"], (clock.prior, seconds), resumed_from=checkpoint)
    lineage["run_folder"] = out.name  # <model>-<recipe>-seed<seed>-<digest of the training settings>
    write_json_atomic(final / LINEAGE_FILE, lineage)
    log.info("saved %s (best %s = %s at %s) after %.0fs of training", final, args.metric_for_best_model,
             trainer.state.best_metric, trainer.state.best_model_checkpoint, lineage["train_seconds"])
    if lineage["selection"]["improved"] is False:
        log.warning("no checkpoint beat the base model on validation (%s: base %.4f, best checkpoint %.4f): "
                    "the saved model is the best checkpoint, which is worse than the model you started from.",
                    args.metric_for_best_model, lineage["selection"]["base_metric"], lineage["selection"]["best_metric"])
    summary = {"model_dir": str(final), "lineage": lineage}
    if recipe.evaluate_after:
        summary["records"] = evaluate_saved(cfg, final, base, recipe)
        if recipe.evaluate_base:
            from bench.run import run

            summary["base_records"] = run(cfg)
    return summary


def _warmup(ratio: float) -> dict:
    """transformers 5 takes the warmup ratio as a float ``warmup_steps``; version 4 as ``warmup_ratio``."""
    import transformers

    return {"warmup_steps": float(ratio)} if int(transformers.__version__.split(".")[0]) >= 5 else {"warmup_ratio": ratio}


def _sampler(recipe: Recipe):
    from sentence_transformers.training_args import BatchSamplers

    if recipe.loss == "mnrl":
        return BatchSamplers.NO_DUPLICATES  # in-batch negatives must not repeat a sentence
    if recipe.length_grouped:
        from bench.train.sampler import LengthGroupedBatchSampler

        return LengthGroupedBatchSampler
    return BatchSamplers.BATCH_SAMPLER


def lineage_record(recipe: Recipe, resolved: ResolvedModel, splits, train_specs, select_specs, trainer, examples: int,
                   device: str, precision: str, seconds: tuple[float, float], resumed_from: str | None) -> dict:
    """What a fine-tuned model came from. ``seconds``: (training seconds before the checkpoint it
    resumed from, seconds of this invocation)."""
    state = trainer.state
    history = [{k: v for k, v in entry.items() if k.startswith("eval_") or k in ("step", "epoch", "loss")}
               for entry in state.log_history]
    return {
        "base_model": f"{resolved.spec.name}@{(resolved.resolved_revision or resolved.spec.revision or '')[:12]}",
        "base": {**resolved.spec.as_dict(), "resolved_revision": resolved.resolved_revision,
                 "weights_sha256": resolved.weights_sha256, "source": resolved.source},
        "recipe": asdict(recipe),
        "loss": recipe.loss + (f"+matryoshka{list(recipe.matryoshka)}" if recipe.matryoshka else ""),
        "epochs": recipe.epochs,
        "data": {"train": {s.result_name: splits[s.result_name]["train"].source for s in train_specs},
                 "validation": {s.result_name: splits[s.result_name]["validation"].source for s in select_specs},
                 "train_examples": examples, "test_split_read": False},
        "selection": selection_record(trainer.args.metric_for_best_model, state, history),
        "global_step": state.global_step,
        "seed": recipe.seed,
        "device": device,
        "precision": precision,
        "train_seconds": round(sum(seconds), 1),  # the whole run, across interruptions
        "train_seconds_this_invocation": round(seconds[1], 1),
        "resumed_from": Path(resumed_from).name if resumed_from else None,
        "versions": package_versions(),
        "git": git_commit(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def selection_record(metric: str, state, history: list[dict]) -> dict:
    """The kept checkpoint and the validation history; ``base_metric`` is the base model's score
    (step 0) and ``improved`` whether the kept checkpoint beats it."""
    evaluations = [h for h in history if metric in h]
    base = next((h[metric] for h in evaluations if h.get("step") == 0), None)
    best = state.best_metric
    return {"metric": metric, "best_metric": best, "base_metric": base,
            "improved": None if base is None or best is None else bool(best > base),
            "best_checkpoint": Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None,
            "history": [h for h in history if any(k.startswith("eval_") for k in h)]}


def evaluate_saved(cfg: DictConfig, final: Path, base: ModelSpec, recipe: Recipe) -> list[dict]:
    """The fine-tuned model on the suite, through the same harness (its results carry the lineage)."""
    from bench.cli import CONF_DIR
    from bench.run import run

    eval_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    eval_cfg.model = {"name": f"{base.name}-{recipe.name}", "name_or_path": str(final.resolve()), "hub_id": None,
                      "revision": "local", "max_seq_length": base.max_seq_length, "prompts": dict(base.prompts),
                      "default_pooling": "sbert", "has_sbert": True, "trust_remote_code": False}
    eval_cfg.pooling = OmegaConf.load(CONF_DIR / "pooling" / "sbert.yaml")
    eval_cfg.overwrite = "always"
    return run(eval_cfg)


__all__ = ["LOSS_DATA", "Recipe", "train"]
