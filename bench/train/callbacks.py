"""Trainer plumbing shared by every trainer bench builds (siamese, masked-LM, cross-encoder): training time
that survives an interruption, the last checkpoint to resume from, the warm-up argument of either transformers."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

from transformers import TrainerCallback

from bench.atomic import write_json_atomic

log = logging.getLogger(__name__)

ELAPSED_FILE = "bench_elapsed.json"


def elapsed_before(checkpoint: str | None) -> float:
    """Seconds of training recorded in a checkpoint (0 without one, or when the record is unreadable)."""
    if not checkpoint:
        return 0.0
    path = Path(checkpoint) / ELAPSED_FILE
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))["train_seconds"])
    except FileNotFoundError:
        log.warning("%s has no %s: the lineage's train_seconds will count this invocation only.", checkpoint,
                    ELAPSED_FILE)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("%s is unreadable (%s): the lineage's train_seconds will count this invocation only.", path, exc)
    return 0.0


#: Files of a checkpoint a resume reads, by how to check them: the trainer's state is written last, so a
#: checkpoint without it (or with any of them unreadable) was cut short by a kill or a full disk.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json", "adapter_model.safetensors")
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be resumed from (None when it is complete): its ``trainer_state.json`` must
    parse, a weights file must exist, and every weights, optimizer and JSON file in it must be readable
    to its end (a safetensors header that matches the file's size, a torch zip with its directory)."""
    state = folder / "trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))["global_step"]
    except FileNotFoundError:
        return "no trainer_state.json (the save was cut short)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"trainer_state.json is unreadable ({exc.__class__.__name__}: {exc})"
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        return f"no weights ({' or '.join(WEIGHT_FILES[::2])})"
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            problem = _file_problem(path)
            if problem:
                return f"{path.relative_to(folder)} is unreadable ({problem})"
    return None


def _file_problem(path: Path) -> str | None:
    import zipfile

    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="np") as handle:
                handle.keys()
        elif path.suffix in (".pt", ".pth", ".bin"):
            with zipfile.ZipFile(path) as archive:
                archive.namelist()
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        else:
            with open(path, "rb"):
                pass
    except Exception as exc:  # truncated, garbled or unreadable: any of them makes the resume fail
        return f"{exc.__class__.__name__}: {exc}"
    return None


def latest_checkpoint(directory: Path) -> str | None:
    """The newest complete ``checkpoint-N`` in ``directory``; newer partial ones (a kill or a full disk while
    saving) are skipped with a warning, so a rerun resumes from the last checkpoint that can be loaded."""
    if not directory.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in directory.iterdir() if (m := CHECKPOINT.match(p.name)) and p.is_dir()),
                   reverse=True)
    for _, folder in found:
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        log.warning("ignoring the incomplete checkpoint %s: %s; resuming from an earlier one (delete the folder "
                    "to silence this).", folder, problem)
    return None


def warmup_argument(ratio: float) -> dict:
    """transformers 5 takes the warmup ratio as a float ``warmup_steps``; version 4 as ``warmup_ratio``."""
    import transformers

    return {"warmup_steps": float(ratio)} if int(transformers.__version__.split(".")[0]) >= 5 else {"warmup_ratio": ratio}


class ElapsedTime(TrainerCallback):
    """Writes into every checkpoint the training seconds spent up to it, counting the seconds of the
    checkpoint it resumed from, so a resumed run's lineage reports the time of the whole run."""

    def __init__(self, prior_seconds: float = 0.0):
        self.prior = prior_seconds
        self.start: float | None = None

    def total(self) -> float:
        return self.prior + (time.perf_counter() - self.start if self.start is not None else 0.0)

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            write_json_atomic(folder / ELAPSED_FILE, {"train_seconds": round(self.total(), 3),
                                                      "global_step": state.global_step})


class TrainingProgress(TrainerCallback):
    """One progress bar over the training steps and the trainer's logs as log lines with numbers
    (instead of transformers' bars and printed dicts of strings); a line per validation pass."""

    def __init__(self, enabled: bool = True, metric: str | None = None):
        self.enabled, self.metric = enabled, metric
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="training", unit="step",
                            disable=not self.enabled, dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        numbers = {k: v for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self.metric in numbers:
            text = f"validation {self.metric.removeprefix('eval_')} = {numbers[self.metric]:.4f}"
        elif "loss" in numbers:
            text = f"loss {numbers['loss']:.4f}, learning rate {numbers.get('learning_rate', float('nan')):.2e}"
        else:
            return
        message = f"step {state.global_step}/{state.max_steps}: {text}"
        if self.bar is not None and self.enabled:
            self.bar.write(message)
        else:
            log.info("%s", message)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
