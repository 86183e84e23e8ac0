"""One cross-encoder job: recipe -> each task's data (checked) -> for each task not yet scored with these exact
settings: train on its train split, keep the checkpoint best on validation, predict the test pairs once ->
a result beside the bi-encoders' (same pairs, same metric definitions, interval, lineage)."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from bench import __version__
from bench.atomic import check_writable_dir, write_json_atomic
from bench.cross.heads import Head, head_for
from bench.cross.recipe import CrossRecipe
from bench.digests import digest_json
from bench.encoding.device import pick_device, precision_flags
from bench.errors import BenchError
from bench.evaluators.base import check_scorable, with_interval
from bench.identity import Identity, data_id, label_definition
from bench.models import door
from bench.models.loading import LINEAGE_FILE, ResolvedModel, check_vocabulary, quiet_transformers, resolve
from bench.models.spec import ModelSpec
from bench.plan import check_settings
from bench.results.provenance import git_commit, package_versions, run_provenance
from bench.results.record import Result, ResultKind, assemble_record, model_revision, result_path, settings_id
from bench.results.store import ResultsStore
from bench.scoring import data_problem, too_few_pairs
from bench.scoring.predictions import prediction_main
from bench.tasks.schema import PairData
from bench.tasks.spec import TaskSpec, load_task, task_specs
from bench.train.callbacks import ElapsedTime, TrainingProgress, elapsed_before, latest_checkpoint, warmup_argument
from bench.train.evaluator import BaseEvaluator
from bench.train.lineage import selection_record

log = logging.getLogger(__name__)

STRATEGY = "cross-encoder"
SPLITS = ("train", "validation")


def require_trainer():
    """sentence-transformers' CrossEncoder trainer (4.0 and later); bench supports 3.x for bi-encoders."""
    try:
        from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
        from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, CrossEntropyLoss
    except ImportError:
        import sentence_transformers

        raise BenchError(f"cross-encoders need sentence-transformers >= 4.0 (its CrossEncoderTrainer); installed: "
                         f"{sentence_transformers.__version__}. pip install -U 'sentence-transformers>=4'.") from None
    return CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments, BinaryCrossEntropyLoss, CrossEntropyLoss


class CrossValidation(BaseEvaluator):
    """The head's main score on the validation split: what picks the checkpoint kept."""

    def __init__(self, task: str, head: Head, part: PairData, targets: np.ndarray, batch_size: int):
        super().__init__()
        self.head, self.targets, self.batch_size = head, targets, batch_size
        self.pairs = list(zip(part.sentence1, part.sentence2))
        self.name = "validation"
        self.key = self.primary_metric = f"{task}_{head.main_score}"  # the base class prefixes primary_metric

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        predictions = predict(model, self.head, self.pairs, self.batch_size)
        score = self.head.main(predictions, self.targets)
        log.info("validation at step %s: %s = %.4f", steps, self.key, score)
        return self.prefix_name_to_metrics({self.key: score}, self.name)


def predict(model, head: Head, pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
    return head.predictions(model.predict(pairs, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True))


def run_cross(cfg: DictConfig) -> list[dict]:
    """Train and score a cross-encoder per task; returns the result records (kept ones included)."""
    check_settings(cfg)
    recipe = CrossRecipe.from_config(cfg.cross)
    base = ModelSpec.from_config(cfg.model)
    specs = recipe.select(task_specs(cfg.task))
    heads = {spec.result_name: head_for(spec, recipe.head) for spec in specs}
    check_writable_dir(Path(cfg.results_dir), "results_dir")
    check_writable_dir(Path(recipe.output_dir), "cross.output_dir")
    data = {}
    for spec in specs:  # every split read and its labels checked before the model loads
        parts = load_task(spec, cfg.data.root, splits=(*SPLITS, spec.eval_split), check_rows=bool(cfg.data.check_rows))
        for name, part in parts.items():
            heads[spec.result_name].targets(spec, part, f"{spec.result_name}/{name}")
        check_test_scorable(spec, heads[spec.result_name], parts[spec.eval_split])
        data[spec.result_name] = parts
    resolved = resolve(base)
    require_trainer()
    planned: dict[str, tuple[TaskSpec, Head, dict[str, PairData], Identity]] = {}
    for spec in specs:  # every result's path and identity, and the overwrite policy, before any training
        head, parts = heads[spec.result_name], data[spec.result_name]
        settings = result_settings(cfg, recipe, head, parts, spec)
        identity = digest_json({"settings": settings, "weights_sha256": resolved.weights_sha256,
                                "files_sha256": resolved.files_sha256, "bench": __version__})
        path = result_path(cfg.results_dir, base.slug, model_revision(resolved.provenance()), STRATEGY,
                           settings_id(settings), f"{spec.result_name}.{head.suffix}")
        planned[spec.result_name] = (spec, head, parts, Identity(settings, settings_id(settings), identity, path))
    store = ResultsStore(cfg.results_dir)
    kept = store.keep({name: item[-1] for name, item in planned.items()}, str(cfg.overwrite))
    records = []
    for name, (spec, head, parts, identity) in planned.items():
        if name in kept:
            log.info("%s exists with these exact settings; kept (overwrite=missing).", identity.path)
            records.append(kept[name])
            continue
        training_id = digest_json(training_identity(recipe, resolved, spec, head, parts))
        folder = (Path(recipe.output_dir)
                  / f"{base.slug}-cross-{spec.result_name}-{head.kind}-seed{recipe.seed}-{training_id[:8]}")
        trained = trained_model(cfg, recipe, resolved, head, folder, training_id)
        model, lineage = trained or train_one(cfg, recipe, resolved, spec, head, parts, folder, training_id)
        record, pairs, targets = score(cfg, spec, head, parts, model, recipe, resolved, lineage,
                                       {"settings": identity.settings, "settings_id": identity.settings_id,
                                        "identity": identity.identity})
        store.write(identity.path, record, pairs, targets)
        records.append(record)
    return records


def check_test_scorable(spec: TaskSpec, head: Head, test: PairData) -> None:
    """The rule bi-encoders follow (:func:`bench.evaluators.base.check_scorable`): a test split whose main score is
    undefined whatever the model (no positives, constant gold, too few pairs) is refused before any training."""
    problem = too_few_pairs(test.targets) if head.kind == "nli" else data_problem(spec.type, test.targets)
    check_scorable(spec.result_name, spec.eval_split, test, problem)


def result_settings(cfg: DictConfig, recipe: CrossRecipe, head: Head, parts: dict[str, PairData],
                    spec: TaskSpec) -> dict:
    """Everything besides the base weights that can change a cross-encoder's numbers."""
    data = {name: data_id(part) for name, part in parts.items()}
    labels = label_definition(spec)
    if labels is not None:
        data["labels"] = labels
    return {"cross": {**recipe.training_settings(), "kind": head.kind}, "data": data,
            "scoring": {"bootstrap": int(cfg.stats.bootstrap), "level": float(cfg.stats.level), "seed": int(cfg.seed)}}


def training_identity(recipe: CrossRecipe, resolved: ResolvedModel, spec: TaskSpec, head: Head,
                      parts: dict[str, PairData]) -> dict:
    """Everything that shapes a trained cross-encoder, and nothing that only scores it (the test split, the
    interval's settings): the recipe, the head, the base model (settings, weights and tokenizer/config files
    digests), the train and validation data and the labels read from them. A scoring-only change scores the
    saved model again; any change here trains another one, in another folder."""
    return {"cross": {**recipe.training_settings(), "kind": head.kind}, "task": spec.result_name,
            "base": resolved.spec.as_dict(), "base_weights_sha256": resolved.weights_sha256,
            "base_files_sha256": resolved.files_sha256,
            "data": {name: data_id(parts[name]) for name in SPLITS},
            "labels": {name: digest_json(np.asarray(head.labels(spec, parts[name], f"{spec.result_name}/{name}"),
                                                    dtype=float).tolist()) for name in SPLITS}}


def trained_model(cfg: DictConfig, recipe: CrossRecipe, resolved: ResolvedModel, head: Head, folder: Path,
                  training_id: str):
    """The model (and lineage) saved in ``folder`` by a training of this exact identity, loaded instead of trained
    again (its result was lost, or a scoring setting changed); None when there is none."""
    final = folder / "model"
    lineage_file = final / LINEAGE_FILE
    if not lineage_file.is_file():
        return None
    import json

    try:
        lineage = json.loads(lineage_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"{lineage_file} is unreadable ({exc}); delete {folder} to train it again.") from None
    if lineage.get("training_id") != training_id:
        raise BenchError(f"{final} holds a cross-encoder trained from other settings, base weights or data (its "
                         f"lineage's training_id is {lineage.get('training_id')!r}, this run's {training_id}): delete "
                         f"{folder} to train it again.")
    cross_encoder = require_trainer()[0]
    device = pick_device(str(cfg.encode.device))
    with door.open_model(resolved, f"cannot load the trained cross-encoder {final}",
                         auto_class="AutoModelForSequenceClassification",
                         hint=f"; delete {folder} to train it again.") as access:
        model = cross_encoder(str(final), num_labels=head.num_labels, max_length=recipe.max_length, device=device,
                              trust_remote_code=access.trust_remote_code, local_files_only=True)
    log.info("%s was trained with these exact settings already (recipe, base weights and files, data); scoring it "
             "without training again.", final)
    return model, lineage


def load_model(resolved: ResolvedModel, head: Head, recipe: CrossRecipe, device: str):
    """The base encoder with a freshly initialised head (sentence-transformers' CrossEncoder); pickled
    weights load through the restricted unpickler, remote code only when the model config allows it."""
    cross_encoder = require_trainer()[0]
    with door.open_model(resolved, f"cannot load '{resolved.spec.name}' from {resolved.path} as a cross-encoder",
                         auto_class="AutoModelForSequenceClassification") as access:
        model = cross_encoder(str(resolved.path), num_labels=head.num_labels, max_length=recipe.max_length,
                              device=device, trust_remote_code=access.trust_remote_code,
                              model_kwargs=access.model_kwargs)
    check_vocabulary(resolved, model.tokenizer, getattr(model.model, "config", None))
    return model


def train_one(cfg: DictConfig, recipe: CrossRecipe, resolved: ResolvedModel, spec: TaskSpec, head: Head,
              parts: dict[str, PairData], folder: Path, training_id: str):
    """Train on the train split, keep the checkpoint best on validation; the model and its lineage."""
    from datasets import Dataset
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    _, trainer_class, arguments, bce, cross_entropy = require_trainer()
    set_seed(recipe.seed)
    final = folder / "model"
    device = pick_device(str(cfg.encode.device))
    precision = precision_flags(recipe.precision, device)
    train = parts["train"]
    dataset = Dataset.from_dict({"sentence1": train.sentence1, "sentence2": train.sentence2,
                                 "label": head.labels(spec, train, f"{spec.result_name}/train")})
    if recipe.max_train_pairs:
        dataset = dataset.shuffle(seed=recipe.seed).select(range(min(recipe.max_train_pairs, len(dataset))))
    model = load_model(resolved, head, recipe, device)
    loss = cross_entropy(model) if head.kind == "nli" else bce(model)
    validation = parts["validation"]
    evaluator = CrossValidation(spec.result_name, head, validation,
                                head.targets(spec, validation, f"{spec.result_name}/validation"), max(32, recipe.batch_size))
    metric = f"eval_{evaluator.name}_{evaluator.key}"
    args = arguments(
        output_dir=str(folder / "checkpoints"), num_train_epochs=recipe.epochs, max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.batch_size, per_device_eval_batch_size=max(32, recipe.batch_size),
        learning_rate=recipe.learning_rate, **warmup_argument(recipe.warmup_ratio), weight_decay=recipe.weight_decay,
        eval_strategy="steps", eval_steps=recipe.eval_steps, eval_on_start=False, save_strategy="steps",
        save_steps=recipe.eval_steps, save_total_limit=2, load_best_model_at_end=True, metric_for_best_model=metric,
        greater_is_better=True, logging_steps=max(1, recipe.eval_steps // 2), seed=recipe.seed, data_seed=recipe.seed,
        bf16=precision["bf16"], fp16=precision["fp16"], use_cpu=device == "cpu", report_to="none", disable_tqdm=True)
    checkpoint = latest_checkpoint(folder / "checkpoints")
    clock = ElapsedTime(elapsed_before(checkpoint))
    trainer = trainer_class(model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator,
                            callbacks=[clock, TrainingProgress(bool(cfg.encode.progress), metric=metric)])
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    log.info("cross-encoder (%s head) for %s on %s, %s, %d pairs -> %s", head.kind, spec.result_name, device,
             precision["name"], len(dataset), folder)
    start = time.perf_counter()
    with quiet_transformers():
        trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    history = [{k: v for k, v in entry.items() if k.startswith("eval_") or k in ("step", "epoch", "loss")}
               for entry in trainer.state.log_history]
    lineage = {
        "training_id": training_id,
        "base_model": f"{resolved.spec.name}@{(resolved.resolved_revision or resolved.spec.revision or '')[:12]}",
        "base": {**resolved.spec.as_dict(), "resolved_revision": resolved.resolved_revision,
                 "weights_sha256": resolved.weights_sha256, "source": resolved.source},
        "architecture": "cross-encoder (sentence-transformers CrossEncoder: the pair in one input, a new head)",
        "recipe": {**recipe.training_settings(), "name": recipe.name},
        "head": head.kind, "num_labels": head.num_labels,
        "loss": "CrossEntropyLoss" if head.kind == "nli" else "BinaryCrossEntropyLoss",
        "data": {"train": train.source, "validation": validation.source, "train_examples": len(dataset),
                 "test_split_read": "once, by the selected model, after training"},
        "selection": selection_record(metric, trainer.state, history),
        "global_step": trainer.state.global_step, "seed": recipe.seed, "device": device, "precision": precision["name"],
        "train_seconds": round(clock.prior + seconds, 1), "resumed_from": Path(checkpoint).name if checkpoint else None,
        "versions": package_versions(), "git": git_commit(), "model_dir": str(final),
    }
    with quiet_transformers():
        model.save_pretrained(str(final), safe_serialization=True)
    write_json_atomic(final / LINEAGE_FILE, lineage)
    if recipe.keep == "best":
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    selection = lineage["selection"]
    log.info("%s: trained %.0f s; validation %s %.4f at %s", spec.result_name, lineage["train_seconds"],
             selection["metric"], selection["best_metric"] or float("nan"), selection["best_checkpoint"])
    return model, lineage


def score(cfg: DictConfig, spec: TaskSpec, head: Head, parts: dict[str, PairData], model, recipe: CrossRecipe,
          resolved: ResolvedModel, lineage: dict, identity: dict) -> tuple[Result, dict, np.ndarray]:
    """The selected model on the test pairs, once: the result record and its per-pair predictions."""
    from bench.evaluators.base import Evaluation

    start = time.perf_counter()
    batch = max(32, recipe.batch_size)
    validation, test = parts["validation"], parts[spec.eval_split]
    val = (predict(model, head, list(zip(validation.sentence1, validation.sentence2)), batch),
           head.targets(spec, validation, "validation"))
    targets = head.targets(spec, test, f"{spec.result_name}/{spec.eval_split}")
    predictions = predict(model, head, list(zip(test.sentence1, test.sentence2)), batch)
    scores = head.metrics((predictions, targets), val)
    pairs = {"prediction": predictions}
    with_interval(scores, prediction_main(head.kind), pairs, targets, int(cfg.stats.bootstrap), float(cfg.stats.level),
                  int(cfg.seed))
    evaluation = Evaluation(scores, head.main_score, head.task_type, pairs, targets,
                            extra={"cross_encoder": {"head": head.kind, "task": spec.result_name,
                                                     "model_dir": lineage["model_dir"]}, "lineage": lineage},
                            kind=ResultKind.CROSS_ENCODER)
    provenance = {**run_provenance(int(cfg.seed)), "model": resolved.provenance(),
                  "pooling": {"name": STRATEGY, "slug": STRATEGY}, "strategy": STRATEGY, **identity}
    record = assemble_record(spec, parts, evaluation, name=f"{spec.result_name}.{head.suffix}", provenance=provenance,
                             described={}, seconds=time.perf_counter() - start, encode_seconds=0.0)
    return record, pairs, targets
