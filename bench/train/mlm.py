"""Masked-LM continued pretraining ("don't stop pretraining", Gururangan et al. 2020): a stage before the
siamese one, on the suite's train sentences or a user's text. transformers' ``AutoModelForMaskedLM`` and
``DataCollatorForLanguageModeling``; the masked-LM loss on the selection tasks' validation sentences picks
the checkpoint kept. The saved model is the encoder (with its masked-LM head): the next stage adds the
recipe's pooling to it (a sentence-transformers pipeline of the base, e.g. a Dense layer, is not kept)."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from omegaconf import DictConfig

from bench.atomic import write_json_atomic
from bench.models.loading import LINEAGE_FILE, ResolvedModel, load_masked_lm, quiet_transformers
from bench.train.callbacks import ElapsedTime, TrainingProgress, elapsed_before, latest_checkpoint, warmup_argument
from bench.train.data import distinct
from bench.train.lineage import selection_record
from bench.train.recipe import Recipe

log = logging.getLogger(__name__)


def train_mlm(cfg: DictConfig, recipe: Recipe, resolved: ResolvedModel, sentences, splits, select_specs,
              out: Path, device: str, precision: dict, training_id: str) -> dict:
    """Masked-LM training from ``resolved``; ``{"model_dir", "lineage"}`` of the saved encoder."""
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from bench.results.provenance import git_commit, package_versions

    tokenizer, model = load_masked_lm(resolved)
    length = resolved.spec.max_seq_length

    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, max_length=length)

    train = Dataset.from_dict({"text": list(sentences)}).map(tokenize, batched=True, remove_columns=["text"])
    held_out = distinct(s for spec in select_specs for s in splits[spec.result_name]["validation"].sentences)
    validation = Dataset.from_dict({"text": held_out}).map(tokenize, batched=True, remove_columns=["text"])
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=recipe.epochs, max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.batch_size, per_device_eval_batch_size=max(32, recipe.batch_size),
        learning_rate=recipe.learning_rate, **warmup_argument(recipe.warmup_ratio), weight_decay=recipe.weight_decay,
        eval_strategy="steps", eval_steps=recipe.eval_steps, eval_on_start=True, save_strategy="steps",
        save_steps=recipe.eval_steps, save_total_limit=recipe.save_total_limit, load_best_model_at_end=True,
        metric_for_best_model="eval_loss", greater_is_better=False, logging_steps=max(1, recipe.eval_steps // 2),
        seed=recipe.seed, data_seed=recipe.seed, bf16=precision["bf16"], fp16=precision["fp16"],
        use_cpu=device == "cpu", report_to="none", disable_tqdm=True)
    # a fixed masking of the validation sentences would need its own collator; the seed fixes it per evaluation
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=recipe.mlm_probability, seed=recipe.seed) \
        if "seed" in DataCollatorForLanguageModeling.__dataclass_fields__ else \
        DataCollatorForLanguageModeling(tokenizer, mlm_probability=recipe.mlm_probability)
    checkpoint = latest_checkpoint(out / "checkpoints") if recipe.resume else None
    clock = ElapsedTime(elapsed_before(checkpoint))
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=validation, data_collator=collator,
                      callbacks=[clock, TrainingProgress(bool(cfg.encode.progress), metric="eval_loss")])
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    log.info("masked-LM training %s on %s, %s, %d sentences (%d validation) -> %s", recipe.name, device,
             precision["name"], len(train), len(validation), out)
    start = time.perf_counter()
    with quiet_transformers():
        trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    final = out / "model"
    if not trainer.is_world_process_zero():
        return {"model_dir": str(final), "process_index": args.process_index}
    with quiet_transformers():
        trainer.model.save_pretrained(str(final), safe_serialization=True)
        tokenizer.save_pretrained(str(final))
    history = [{k: v for k, v in entry.items() if k.startswith("eval_") or k in ("step", "epoch", "loss")}
               for entry in trainer.state.log_history]
    selection = selection_record("eval_loss", trainer.state, history)
    selection["improved"] = None if selection["base_metric"] is None else bool(selection["best_metric"] < selection["base_metric"])
    lineage = {
        "training_id": training_id,
        "base_model": f"{resolved.spec.name}@{(resolved.resolved_revision or resolved.spec.revision or '')[:12]}",
        "base": {**resolved.spec.as_dict(), "resolved_revision": resolved.resolved_revision,
                 "weights_sha256": resolved.weights_sha256, "source": resolved.source},
        "recipe": asdict(recipe),
        "loss": f"mlm(p={recipe.mlm_probability})",
        "epochs": recipe.epochs,
        "data": {"train": ({"text_file": str(Path(recipe.text_file).resolve())} if recipe.text_file else
                           {name: parts["train"].source for name, parts in splits.items() if "train" in parts}),
                 "validation": {s.result_name: splits[s.result_name]["validation"].source for s in select_specs},
                 "train_examples": len(train), "test_split_read": False},
        "selection": selection,
        "global_step": trainer.state.global_step, "seed": recipe.seed, "device": device, "precision": precision["name"],
        "train_seconds": round(clock.prior + seconds, 1), "train_seconds_this_invocation": round(seconds, 1),
        "resumed_from": Path(checkpoint).name if checkpoint else None, "run_folder": out.name,
        "versions": package_versions(), "git": git_commit(),
    }
    write_json_atomic(final / LINEAGE_FILE, lineage)
    if recipe.keep == "best":
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    log.info("saved %s after %.0f s of masked-LM training: validation loss %.4f (base %s)", final,
             lineage["train_seconds"], selection["best_metric"],
             f"{selection['base_metric']:.4f}" if selection["base_metric"] is not None else "not scored")
    return {"model_dir": str(final), "lineage": lineage}
