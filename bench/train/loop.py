"""One fine-tuning job: recipe -> data -> model -> trainer (selection on validation) -> saved model with its
lineage -> evaluation by the harness. The recipe (:mod:`~bench.train.recipe`), the run's identity and
lineage (:mod:`~bench.train.lineage`) and the device policy (:mod:`bench.encoding.device`) live apart.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bench.atomic import write_json_atomic
from bench.digests import digest_json, sha256_file
from bench.encoding.device import pick_device, precision_flags
from bench.errors import BenchError
from bench.models.loading import LINEAGE_FILE, ResolvedModel, load_for_training, quiet_transformers, resolve
from bench.models.spec import ModelSpec
from bench.tasks.spec import TaskSpec, task_specs
from bench.train.callbacks import ElapsedTime, TrainingProgress, elapsed_before, latest_checkpoint, warmup_argument
from bench.train.data import load_training_splits, training_dataset
from bench.train.evaluator import BenchEvaluator
from bench.train.lineage import lineage_record, output_folder, run_digest, training_identity
from bench.train.objectives import build_loss
from bench.train.recipe import Recipe, pick_specs, training_prompt

log = logging.getLogger(__name__)


def selection_evaluator(cfg: DictConfig, specs: list[TaskSpec], base: ModelSpec,
                        batch_size: int) -> tuple[BenchEvaluator, str]:
    """:class:`bench.BenchEvaluator` on the selection tasks' validation splits (the run pipeline's main score per
    task, mean over several; the base model's prompts; the run's data settings) and the name of the metric that
    picks the checkpoint kept. Its metrics are named ``validation_<task>_main_score``."""
    evaluator = BenchEvaluator(
        tasks=narrowed_tasks(cfg.task, [spec.result_name for spec in specs]), split="validation", name="validation",
        data=OmegaConf.to_container(cfg.data, resolve=True), encode={"batch_size": batch_size, "progress": False},
        model={"prompts": dict(base.prompts), "instruction_template": base.instruction_template})
    return evaluator, f"{evaluator.name}_{evaluator.primary_metric}"


def narrowed_tasks(task: DictConfig, names) -> DictConfig:
    """The run's task node with only the suite members named (by member or result name); one task as it is."""
    node = OmegaConf.create(OmegaConf.to_container(task, resolve=True))
    if "tasks" in node:
        wanted = set(names)
        node.tasks = {name: member for name, member in node.tasks.items()
                      if name in wanted or spec_name(member) in wanted}
    return node


def set_card_example(model, dataset) -> None:
    """The model card's widget example from the first training pair: otherwise sentence-transformers samples
    and sorts a thousand examples behind a progress bar of its own, to pick one."""
    card = getattr(model, "model_card_data", None)
    texts = [value for value in (dataset[0].values() if len(dataset) else ()) if isinstance(value, str)]
    if card is not None and hasattr(card, "widget") and not card.widget and len(texts) >= 2:
        card.widget = [{"source_sentence": texts[0], "sentences": [texts[1]]}]



def train(cfg: DictConfig) -> dict:
    """Fine-tune (one recipe, or a chain of stages), save, and (by default) evaluate; returns a summary dict."""
    from bench.plan import check_settings

    check_settings(cfg)  # the evaluation's settings fail now, not after training
    recipe = Recipe.from_config(cfg.train)
    base = ModelSpec.from_config(cfg.model)
    specs = task_specs(cfg.task)
    if recipe.evaluate_tasks is not None:
        pick_specs(recipe.evaluate_tasks, specs, "evaluate_tasks")  # a typo fails now, not after training
    base = resolve(base).spec  # with the length and prompts the model's own files give, where the config leaves them
    check_never_before_training(cfg, recipe, base, specs)
    if not recipe.stages:
        done = train_stage(cfg, recipe, base, specs)
        if "process_index" in done:
            return done
        return finish(cfg, Path(done["model_dir"]), base, recipe, done["lineage"])
    stages = recipe.stage_recipes()
    for stage in stages:  # every stage's tasks checked before the first one trains
        for _, tasks in stage.losses:
            if tasks:
                pick_specs(tasks, specs, "tasks")
        pick_specs(stage.select_on, specs, "select_on")
    spec, trained = base, []
    for stage in stages:
        done = train_stage(cfg, stage, spec, specs)
        if "process_index" in done:
            return done
        own = (done["lineage"].get("stages") or [done["lineage"]])[-1]  # a finished chain's last model holds the chain's
        trained.append((stage, Path(done["model_dir"]), own))
        spec = saved_model_spec(Path(done["model_dir"]), base, stage.name)
    final = trained[-1][1]
    lineage = chain_lineage(recipe, trained)
    write_json_atomic(final / LINEAGE_FILE, lineage)
    summary = finish(cfg, final, base, recipe, lineage)
    if recipe.evaluate_after:  # each earlier stage's model too: what every stage adds, on the same test pairs
        eval_cfg = evaluation_config(cfg, recipe)
        summary["stage_records"] = [record for stage, folder, _ in trained[:-1]
                                    for record in evaluate_saved(eval_cfg, folder, base, stage)]
    return summary


def chain_lineage(recipe: Recipe, trained: list) -> dict:
    """The last stage's lineage, with the chain's recipe and every stage (its recipe, data, selection, time)."""
    stages = [{k: v for k, v in lineage.items() if k != "stages"} | {"model_dir": str(folder)}
              for _, folder, lineage in trained]
    first = stages[0]
    return {**stages[-1], "recipe": asdict(recipe), "base_model": first["base_model"], "base": first["base"],
            "loss": " -> ".join(s["loss"] for s in stages),
            "train_seconds": round(sum(s["train_seconds"] for s in stages), 1), "stages": stages}


def saved_model_spec(final: Path, base: ModelSpec, name: str) -> ModelSpec:
    """A saved model as the next stage's base (or for evaluation): the base's length and prompts."""
    from bench.config import compose_config

    return ModelSpec.from_config(compose_config(saved_model_overrides(final, base, name)).model)


def saved_model_overrides(final: Path, base: ModelSpec, name: str) -> list[str]:
    overrides = ["model=hf", f"model.name_or_path={final.resolve()}", f"model.name={base.name}-{name}",
                 "model.revision=local",
                 f"model.max_seq_length={'null' if base.max_seq_length is None else base.max_seq_length}"]
    template = [f"model.instruction_template='{base.instruction_template}'"] if base.instruction_template else []
    template += ["model.append_eos=true"] if base.append_eos else []  # tokenized as the base was trained
    # the base's prompts, always given: left null, the saved pipeline's own config would decide them
    return overrides + ["model.prompts={" + ",".join(f"{kind}:'{text}'" for kind, text in base.prompts) + "}"] + template


def objective_data(recipe: Recipe, specs: list[TaskSpec], splits):
    """The training data and loss name of each objective: one dataset, or a dict of them (multi-task)."""
    datasets = {}
    for loss, tasks in recipe.losses:
        data = training_dataset(loss, pick_specs(tasks, specs, "tasks") if tasks else [], splits, recipe.text_file)
        if recipe.max_train_pairs:
            data = data.shuffle(seed=recipe.seed).select(range(min(recipe.max_train_pairs, len(data))))
        datasets[f"{loss}-{'+'.join(tasks) or 'text'}"] = (loss, data)
    return datasets


@dataclass
class StageInputs:
    """What one stage trains on and where its model goes (decided before any training)."""

    train_specs: list[TaskSpec]
    select_specs: list[TaskSpec]
    splits: dict
    resolved: ResolvedModel
    training_id: str  # digest of the training identity (recipe, base weights and files, data)
    out: Path  # <output_dir>/<model>-<recipe>-seed<seed>-<first 8 hex digits of the training id>


def stage_inputs(cfg: DictConfig, recipe: Recipe, base: ModelSpec, specs: list[TaskSpec]) -> StageInputs:
    train_specs = [s for _, tasks in recipe.losses if tasks for s in pick_specs(tasks, specs, "tasks")]
    select_specs = pick_specs(recipe.select_on, specs, "select_on")
    splits = load_training_splits(list({s.result_name: s for s in train_specs + select_specs}.values()),
                                  cfg.data.root, check_rows=bool(cfg.data.check_rows))
    resolved = resolve(base)
    identity = training_identity(recipe, resolved, splits)
    return StageInputs(train_specs, select_specs, splits, resolved, digest_json(identity),
                       output_folder(recipe, base, run_digest(identity)))


def finished_model(recipe: Recipe, stage: StageInputs) -> dict | None:
    """The lineage of the model this stage already saved with the same training identity (reused instead of
    trained again), or None when there is none (or ``train.resume=false``)."""
    final = stage.out / "model"
    if not (recipe.resume and (final / LINEAGE_FILE).is_file()):
        return None
    lineage = read_lineage(final)
    if lineage.get("training_id") != stage.training_id:
        raise BenchError(f"{final} holds a model trained from other settings, base weights or data than this run's "
                         f"(its lineage's training_id is {lineage.get('training_id')!r}, this run's {stage.training_id}): "
                         f"delete {stage.out} or set train.resume=false to train it again.")
    log.info("%s was trained with these exact settings already (recipe, base weights and files, data); using it "
             "(train.resume=false retrains).", final)
    return lineage


def train_stage(cfg: DictConfig, recipe: Recipe, base: ModelSpec, specs: list[TaskSpec]) -> dict:
    """One recipe trained from ``base``: ``{"model_dir", "lineage"}`` (or the process index on other ranks)."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    set_seed(recipe.seed)
    stage = stage_inputs(cfg, recipe, base, specs)
    train_specs, select_specs, splits, resolved, out = (stage.train_specs, stage.select_specs, stage.splits,
                                                        stage.resolved, stage.out)
    objectives = objective_data(recipe, specs, splits)
    final = out / "model"
    reused = finished_model(recipe, stage)
    if reused is not None:
        return {"model_dir": str(final), "lineage": reused}
    device = pick_device(str(cfg.encode.device))
    precision = precision_flags(recipe.precision, device)
    prompt = training_prompt(base, train_specs + select_specs)
    if recipe.loss == "mlm":
        from bench.train.mlm import train_mlm

        (_, dataset), = objectives.values()
        return train_mlm(cfg, recipe, resolved, dataset["anchor"], splits, select_specs, out, device, precision,
                         stage.training_id)
    model = load_for_training(resolved, recipe.pooling, device)
    names = list(objectives)
    set_card_example(model, objectives[names[0]][1])
    losses = {name: build_loss(loss, model, list(recipe.matryoshka) or None) for name, (loss, _) in objectives.items()}
    dataset = {name: data for name, (_, data) in objectives.items()}
    examples = sum(len(d) for d in dataset.values())
    evaluator, metric = selection_evaluator(cfg, select_specs, base, batch_size=max(32, recipe.batch_size))
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=max(32, recipe.batch_size),
        learning_rate=recipe.learning_rate,
        **warmup_argument(recipe.warmup_ratio),
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
        disable_tqdm=True,  # one bar of bench's own (TrainingProgress), and log lines with numbers
        prompts=prompt or None,  # the base model's prompt for these task types (model.prompts), as in evaluation
    )
    checkpoint = latest_checkpoint(out / "checkpoints") if recipe.resume else None
    if checkpoint:
        log.info("resuming from %s", checkpoint)
    clock = ElapsedTime(elapsed_before(checkpoint))
    single = len(names) == 1
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset[names[0]] if single else dataset,
                                         loss=losses[names[0]] if single else losses, evaluator=evaluator,
                                         callbacks=[clock, TrainingProgress(bool(cfg.encode.progress),
                                                                            metric=f"eval_{metric}")])
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    log.info("training %s on %s, %d process(es), %s, %d examples (%s) -> %s", recipe.name, device, args.world_size,
             precision["name"], examples, ", ".join(f"{n}: {len(d)}" for n, d in dataset.items()), out)
    start = time.perf_counter()
    with quiet_transformers():
        trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    if not trainer.is_world_process_zero():  # torchrun / accelerate: one process saves and evaluates
        return {"model_dir": str(final), "process_index": args.process_index}
    with quiet_transformers():
        model.save(str(final), safe_serialization=True)
    lineage = lineage_record(recipe, resolved, splits, train_specs, select_specs, trainer, examples, device,
                             precision["name"], (clock.prior, seconds), resumed_from=checkpoint)
    lineage["training_id"] = stage.training_id
    lineage["run_folder"] = out.name  # <model>-<recipe>-seed<seed>-<digest of the training settings>
    if recipe.text_file:
        lineage["data"]["text_file"] = {"path": str(Path(recipe.text_file).resolve()),
                                        "sha256": sha256_file(Path(recipe.text_file))}
    write_json_atomic(final / LINEAGE_FILE, lineage)
    if recipe.keep == "best":  # the saved model is the best checkpoint; the rest is hundreds of MB
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    selection = lineage["selection"]
    log.info("saved %s after %.0f s of training: %s %.4f at %s (base model %s)", final, lineage["train_seconds"],
             selection["metric"], selection["best_metric"], selection["best_checkpoint"],
             f"{selection['base_metric']:.4f}" if selection["base_metric"] is not None else "not scored")
    if selection["improved"] is False:
        log.warning("no checkpoint beat the base model on validation (%s: base %.4f, best checkpoint %.4f): "
                    "the saved model is the best checkpoint, which is worse than the model you started from.",
                    selection["metric"], selection["base_metric"], selection["best_metric"])
    return {"model_dir": str(final), "lineage": lineage}


def read_lineage(final: Path) -> dict:
    import json

    try:
        return json.loads((final / LINEAGE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"{final / LINEAGE_FILE} is unreadable ({exc}); delete {final} to train again.") from None


def finish(cfg: DictConfig, final: Path, base: ModelSpec, recipe: Recipe, lineage: dict) -> dict:
    """The summary of a training job, with the harness's evaluation of the saved model (and of the base)."""
    summary = {"model_dir": str(final), "lineage": lineage}
    if recipe.evaluate_after:
        eval_cfg = evaluation_config(cfg, recipe)
        summary["records"] = evaluate_saved(eval_cfg, final, base, recipe)
        if recipe.evaluate_base:
            from bench.run import run

            summary["base_records"] = run(eval_cfg)
    return summary


def evaluation_config(cfg: DictConfig, recipe: Recipe) -> DictConfig:
    """The run's config with the task narrowed to ``train.evaluate_tasks`` (default: all of it)."""
    eval_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    if recipe.evaluate_tasks is not None:
        eval_cfg.task = narrowed_tasks(eval_cfg.task, recipe.evaluate_tasks)
    return eval_cfg


def spec_name(member) -> str:
    from bench.tasks.spec import spec_from_config

    return spec_from_config(member).result_name



def _sampler(recipe: Recipe):
    try:  # sentence-transformers >= 6 (the old path warns there)
        from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    except ImportError:
        from sentence_transformers.training_args import BatchSamplers

    if any(loss in ("mnrl", "simcse") for loss, _ in recipe.losses):
        return BatchSamplers.NO_DUPLICATES  # in-batch negatives must not repeat a sentence
    if recipe.length_grouped:
        from bench.train.sampler import LengthGroupedBatchSampler

        return LengthGroupedBatchSampler
    return BatchSamplers.BATCH_SAMPLER


def saved_model_config(cfg: DictConfig, final: Path, base: ModelSpec, recipe: Recipe) -> DictConfig:
    """The evaluation config of a saved model: the model node composed from ``conf/model/hf.yaml`` and a pooling,
    as ``model=<folder>`` would be; everything else (tasks, scoring, overwrite policy) the run's own."""
    from bench.config import compose_config

    # a sentence-transformers model is evaluated through its own pipeline; a masked-LM stage's encoder with the
    # recipe's pooling (as the next stage would train it)
    pooling = "sbert" if (final / "modules.json").is_file() else recipe.pooling
    composed = compose_config([*saved_model_overrides(final, base, recipe.name), f"pooling={pooling}"])
    eval_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    eval_cfg.model = composed.model
    eval_cfg.pooling = composed.pooling
    return eval_cfg


def evaluate_saved(cfg: DictConfig, final: Path, base: ModelSpec, recipe: Recipe) -> list[dict]:
    """The fine-tuned model through the same harness, under the run's overwrite policy: with ``missing`` a result
    of exactly this identity (the fine-tuned weights, its training id, the scoring settings) is kept, anything
    else computed; its results carry the lineage."""
    from bench.run import run

    return run(saved_model_config(cfg, final, base, recipe))


def results_that_exist(cfg: DictConfig) -> list[str]:
    """The result files an evaluation with this config would write that exist already (planned, nothing encoded)."""
    from bench.identity import identify
    from bench.plan import plan

    return [str(identity.path) for identity in identify(plan(cfg)).values() if identity.path.exists()]


def check_never_before_training(cfg: DictConfig, recipe: Recipe, base: ModelSpec, specs: list[TaskSpec]) -> None:
    """``overwrite=never`` refuses before any training: the base model's results (``train.evaluate_base``) and those
    of every stage's model already trained with these exact settings (reused, so evaluated again) must not exist.
    (A model still to be trained has new weights, so no result of it can exist.)"""
    if str(cfg.overwrite) != "never" or not recipe.evaluate_after:
        return
    eval_cfg = evaluation_config(cfg, recipe)
    taken = results_that_exist(eval_cfg) if recipe.evaluate_base else []
    stages = recipe.stage_recipes() if recipe.stages else [recipe]
    spec = base
    for number, stage in enumerate(stages, start=1):
        inputs = stage_inputs(cfg, stage, spec, specs)
        final = inputs.out / "model"
        if finished_model(stage, inputs) is None:
            break  # this stage trains, so this and every later stage's model will be new
        named = recipe if number == len(stages) else stage  # the chain's last model carries the chain's name
        taken += results_that_exist(saved_model_config(eval_cfg, final, base, named))
        spec = saved_model_spec(final, base, stage.name)
    if taken:
        raise BenchError(f"overwrite=never, but these results exist: {', '.join(taken)}; nothing was trained. Use "
                         f"overwrite=missing to keep them and compute the rest, or overwrite=always.")


__all__ = ["Recipe", "train"]
