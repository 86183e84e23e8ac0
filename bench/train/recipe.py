"""A training recipe (``conf/train/*.yaml``): what to train on, with which loss and schedule, checked
before any data or model is loaded."""

from __future__ import annotations

from dataclasses import asdict

from omegaconf import DictConfig, OmegaConf

from bench.config import RecipeConfig, ScheduleConfig, check_values, conf_values, domain_values, frozen_from
from bench.encoding.device import PRECISIONS
from bench.errors import BenchError, unknown_choice
from bench.models.spec import ModelSpec
from bench.tasks.spec import TaskSpec
from bench.train.objectives import LOSSES, UNSUPERVISED

#: ``loss`` of a recipe with ``objectives`` (several losses in one stage) or ``stages`` (a chain of recipes).
MULTITASK, STAGED = "multitask", "stages"
#: What a stage of a chain may not set: where models go and what happens after the whole chain.
CHAIN_ONLY = ("output_dir", "resume", "evaluate_after", "evaluate_base", "evaluate_tasks", "keep", "stages")


def check_schedule(recipe, schema: type[ScheduleConfig], section: str) -> None:
    """A training or cross-encoder recipe's checks: the ranges and choices of its schema's fields (those of
    :class:`bench.config.ScheduleConfig` shared), then what the shared schedule needs: a precision, a length."""
    check_values(recipe, schema, section)
    if recipe.precision not in PRECISIONS:
        raise unknown_choice(f"{section}.precision", recipe.precision, PRECISIONS)
    if not (recipe.epochs > 0 or recipe.max_steps > 0):
        raise BenchError(f"{section}.epochs must be > 0 (or set {section}.max_steps).")


@frozen_from(RecipeConfig)
class Recipe:
    """A ``conf/train/*.yaml`` recipe: the fields of :class:`bench.config.RecipeConfig` (lists as tuples).
    ``evaluate_tasks`` None: the whole suite of the run; ``keep`` best: only the final (best) model is kept, all: the
    checkpoints too; ``objectives``: [{loss, tasks}, ...] trained together (a batch from one at a time); ``stages``:
    a chain, each a recipe of its own, trained from the previous stage's model; ``text_file``: label-free losses
    (simcse, mlm) train on this text (a sentence per line)."""

    def __post_init__(self) -> None:
        if self.loss not in (*LOSSES, MULTITASK, STAGED):
            raise unknown_choice("train.loss", self.loss, LOSSES)
        if self.loss == "mlm" and self.matryoshka:
            raise BenchError("train.matryoshka does not apply to loss mlm (it trains no sentence vectors).")
        if any(d < 1 for d in self.matryoshka):
            raise BenchError(f"train.matryoshka={list(self.matryoshka)} is not valid: expected dimensions >= 1, e.g. "
                             f"train.matryoshka=[384,256,128].")
        check_schedule(self, RecipeConfig, "train")
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
        c = domain_values(RecipeConfig, {**conf_values("train", "_recipe", with_defaults=True), **given}, "train")
        if c["stages"]:
            c["loss"] = STAGED
            c.setdefault("tasks", ())  # each stage names its own
        elif c["objectives"]:
            c["loss"] = MULTITASK
            c["tasks"] = tuple(dict.fromkeys(t for o in c["objectives"] if isinstance(o, dict) for t in o.get("tasks") or ()))
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


