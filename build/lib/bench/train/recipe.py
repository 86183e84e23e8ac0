"""A training recipe (``conf/train/*.yaml``): what to train on, with which loss and schedule, checked
before any data or model is loaded."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from bench.config import conf_values
from bench.device import PRECISIONS
from bench.errors import BenchError, unknown_choice
from bench.models.spec import ModelSpec
from bench.tasks import TaskSpec
from bench.train.objectives import LOSSES

KEEP = ("best", "all")
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
    epochs: float
    batch_size: int
    learning_rate: float
    warmup_ratio: float
    weight_decay: float
    eval_steps: int
    max_steps: int
    seed: int
    pooling: str
    matryoshka: tuple[int, ...]
    length_grouped: bool
    precision: str
    output_dir: str
    resume: bool
    save_total_limit: int
    max_train_pairs: int | None
    evaluate_after: bool
    evaluate_base: bool
    evaluate_tasks: tuple[str, ...] | None  # None: the whole suite of the run
    keep: str  # best: only the final (best) model is kept; all: the checkpoints too

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise unknown_choice("train.loss", self.loss, LOSSES)
        if self.precision not in PRECISIONS:
            raise unknown_choice("train.precision", self.precision, PRECISIONS)
        if self.keep not in KEEP:
            raise unknown_choice("train.keep", self.keep, KEEP)
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
        """From a ``train`` config; keys it leaves out take the shared values of ``conf/train/_recipe.yaml``
        (as a recipe file does), so a recipe written in Python has the same defaults."""
        given = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        c = {**conf_values("train", "_recipe"), **given}
        fields = cls.__dataclass_fields__
        unknown = sorted(set(c) - set(fields))
        if unknown:
            raise BenchError(f"unknown train setting(s) {unknown}; valid: {', '.join(sorted(fields))}.")
        for key in ("tasks", "select_on", "matryoshka"):
            c[key] = tuple(c.get(key) or ())
        if c.get("evaluate_tasks") is not None:
            c["evaluate_tasks"] = tuple(c["evaluate_tasks"])
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


def training_prompt(base: ModelSpec, specs: list[TaskSpec]) -> str:
    """The prompt training and selection put before every sentence: the one evaluation uses for these
    tasks' type, so the model is trained on what it will be tested on."""
    prompts = {base.prompt(spec.type) for spec in specs}
    if len(prompts) > 1:
        raise BenchError(f"model '{base.name}' has different prompts for the task types of this recipe "
                         f"({dict(base.prompts)}); train on tasks of one type, or give them one prompt.")
    return prompts.pop()


