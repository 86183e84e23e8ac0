"""What a fine-tuned model came from: the run's identity (its folder), and the lineage saved beside it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from bench.digests import digest_json
from bench.models.loading import ResolvedModel
from bench.models.spec import ModelSpec
from bench.results.provenance import git_commit, package_versions
from bench.train.recipe import Recipe

#: Recipe fields that do not change what is trained (they may differ between a run and its resumption).
NOT_TRAINING = frozenset({"output_dir", "resume", "evaluate_after", "evaluate_base", "evaluate_tasks", "keep",
                          "save_total_limit"})


def training_identity(recipe: Recipe, resolved: ResolvedModel, splits) -> dict:
    """Everything that shapes the training: the recipe's training fields, the base model (its settings, the
    digests of its weights and of its tokenizer/config files) and the data (each split's content digest, or
    the hub file at its revision). A base whose weights change in place is another training."""
    from bench.identity import data_id

    identity = {"recipe": {k: v for k, v in asdict(recipe).items() if k not in NOT_TRAINING},
                "base": resolved.spec.as_dict(),
                "base_weights_sha256": resolved.weights_sha256,
                "base_files_sha256": resolved.files_sha256,
                "data": {task: {split: data_id(part) for split, part in sorted(parts.items())}
                         for task, parts in sorted(splits.items())}}
    if recipe.text_file:  # the text's content, not its name
        from bench.digests import sha256_file

        identity["text_file_sha256"] = sha256_file(Path(recipe.text_file))
    return identity


def run_digest(identity: dict) -> str:
    """8 hex digits of :func:`training_identity`: runs that differ in any part of it never share a checkpoint
    folder, and a finished model is reused only by a run of the same identity."""
    return digest_json(identity, 8)


def output_folder(recipe: Recipe, base: ModelSpec, digest: str) -> Path:
    return Path(recipe.output_dir) / f"{base.name.replace('/', '__')}-{recipe.name}-seed{recipe.seed}-{digest}"


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
        "loss": " + ".join(f"{loss}({','.join(tasks) or 'text'})" if recipe.objectives else loss
                           for loss, tasks in recipe.losses) + (f"+matryoshka{list(recipe.matryoshka)}" if recipe.matryoshka else ""),
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


