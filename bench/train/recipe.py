"""A training recipe (``conf/train/*.yaml``): what to train on, with which loss and schedule, checked
before any data or model is loaded."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from omegaconf import DictConfig, OmegaConf

from bench.config import conf_values
from bench.encoding.device import PRECISIONS
from bench.errors import BenchError, unknown_choice
from bench.models.spec import ModelSpec
from bench.plan import MAX_SEED
from bench.tasks.spec import TaskSpec
from bench.train.objectives import LOSSES, UNSUPERVISED

KEEP = ("best", "all")
NUMERIC = {"epochs": float, "batch_size": int, "learning_rate": float, "warmup_ratio": float, "weight_decay": float,
           "eval_steps": int, "max_steps": int, "seed": int, "save_total_limit": int, "max_train_pairs": int,
           "mlm_probability": float}
#: ``loss`` of a recipe with ``objectives`` (several losses in one stage) or ``stages`` (a chain of recipes).
MULTITASK, STAGED = "multitask", "stages"
#: What a stage of a chain may not set: where models go and what happens after the whole chain.
CHAIN_ONLY = ("output_dir", "resume", "evaluate_after", "evaluate_base", "evaluate_tasks", "keep", "stages")
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
    ("mlm_probability", lambda v: 0 < v < 1, "a fraction of the tokens in (0, 1)"),
    ("seed", lambda v: 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED} (numpy's seed range)"),
    ("epochs", lambda v: v >= 0, "a number >= 0"),
)


def as_numbers(values: dict, kinds: dict, section: str) -> None:
    """Numeric settings converted in place (``"3"`` from a command line is 3), or one clear error."""
    for key, kind in kinds.items():
        if values.get(key) is not None:
            try:
                values[key] = kind(values[key])
            except (TypeError, ValueError):
                raise BenchError(f"{section}.{key}={values[key]!r} is not a number.") from None


def check_schedule(recipe, section: str) -> None:
    """What a training recipe and a cross-encoder recipe share: precision, what is kept, numeric ranges, length."""
    if recipe.precision not in PRECISIONS:
        raise unknown_choice(f"{section}.precision", recipe.precision, PRECISIONS)
    if recipe.keep not in KEEP:
        raise unknown_choice(f"{section}.keep", recipe.keep, KEEP)
    for key, valid, expected in RANGES:
        value = getattr(recipe, key, None)
        if value is not None and not valid(value):
            raise BenchError(f"{section}.{key}={value} is not valid: expected {expected}.")
    if not (recipe.epochs > 0 or recipe.max_steps > 0):
        raise BenchError(f"{section}.epochs must be > 0 (or set {section}.max_steps).")


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
    objectives: tuple[dict, ...] = ()  # multi-task: [{loss, tasks}, ...] trained together (a batch from one at a time)
    stages: tuple[dict, ...] = ()  # a chain: each a recipe of its own, trained from the previous stage's model
    text_file: str | None = None  # label-free losses (simcse, mlm): train on this text (a sentence per line)
    mlm_probability: float = 0.15

    def __post_init__(self) -> None:
        if self.loss not in (*LOSSES, MULTITASK, STAGED):
            raise unknown_choice("train.loss", self.loss, LOSSES)
        if self.loss == "mlm" and self.matryoshka:
            raise BenchError("train.matryoshka does not apply to loss mlm (it trains no sentence vectors).")
        if any(d < 1 for d in self.matryoshka):
            raise BenchError(f"train.matryoshka={list(self.matryoshka)} is not valid: expected dimensions >= 1, e.g. "
                             f"train.matryoshka=[384,256,128].")
        if self.pooling not in POOLINGS:
            raise unknown_choice("train.pooling (for a raw encoder)", self.pooling, POOLINGS)
        check_schedule(self, "train")
        needs_tasks = self.loss != STAGED and not (self.loss in UNSUPERVISED and self.text_file)
        if needs_tasks and not self.tasks or not self.select_on:
            raise BenchError("a recipe needs train.tasks (what to train on) and train.select_on (validation splits).")
        for objective in self.objectives:
            if (not isinstance(objective, dict) or set(objective) != {"loss", "tasks"} or objective["loss"] not in LOSSES
                    or objective["loss"] == "mlm"):
                raise BenchError(f"train.objectives: each item is {{loss: <{'|'.join(x for x in LOSSES if x != 'mlm')}>, "
                                 f"tasks: [...]}}, got {objective}.")

    @property
    def losses(self) -> list[tuple[str, tuple[str, ...]]]:
        """(loss, tasks) of each objective: one, or several trained together."""
        return [(o["loss"], tuple(o["tasks"])) for o in self.objectives] or [(self.loss, self.tasks)]

    def stage_recipes(self) -> list[Recipe]:
        """The stages of a chain as recipes: the chain's settings, then each stage's own (its name prefixed)."""
        shared = {k: v for k, v in asdict(self).items() if k not in ("name", "loss", "tasks", "objectives", "stages")}
        out = []
        for number, stage in enumerate(self.stages, start=1):
            stage = dict(stage)
            fixed = sorted(set(stage) & set(CHAIN_ONLY))
            if fixed:
                raise BenchError(f"train.stages[{number - 1}] sets {fixed}, which only the whole chain sets.")
            name = f"{self.name}.{number}-{stage.pop('name', None) or stage.get('loss') or 'multitask'}"
            out.append(Recipe.from_config({**shared, "evaluate_after": False, **stage, "name": name}))
        return out

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
        c["objectives"] = tuple(dict(o) if isinstance(o, dict) else o for o in c.get("objectives") or ())
        c["stages"] = tuple(dict(o) for o in c.get("stages") or ())
        if c["stages"]:
            c["loss"] = STAGED
        elif c["objectives"]:
            c["loss"] = MULTITASK
            c["tasks"] = tuple(dict.fromkeys(t for o in c["objectives"] if isinstance(o, dict) for t in o.get("tasks") or ()))
        if c.get("evaluate_tasks") is not None:
            c["evaluate_tasks"] = tuple(c["evaluate_tasks"])
        as_numbers(c, NUMERIC, "train")
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
    prompts = {base.prompt(spec.type, spec.mteb_name) for spec in specs}
    if len(prompts) > 1:
        raise BenchError(f"model '{base.name}' has different prompts for the task types of this recipe "
                         f"({dict(base.prompts)}); train on tasks of one type, or give them one prompt.")
    return prompts.pop()


