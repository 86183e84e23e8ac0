"""Trainer callbacks: training time that survives an interruption."""

from __future__ import annotations

import json
import logging
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
