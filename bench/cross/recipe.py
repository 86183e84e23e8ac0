"""A cross-encoder recipe (``conf/cross/*.yaml``), checked before any data or model is loaded."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from omegaconf import DictConfig, OmegaConf

from bench.config import conf_values
from bench.cross.heads import HEADS, head_for
from bench.errors import BenchError, unknown_choice
from bench.tasks.spec import TaskSpec
from bench.train.recipe import as_numbers, check_schedule

NUMERIC = {"epochs": float, "batch_size": int, "learning_rate": float, "warmup_ratio": float, "weight_decay": float,
           "eval_steps": int, "max_steps": int, "max_length": int, "seed": int, "max_train_pairs": int}
#: Fields that do not change what is trained (where it goes, what is kept).
NOT_TRAINING = frozenset({"output_dir", "keep", "name"})


@dataclass(frozen=True)
class CrossRecipe:
    name: str
    head: str
    tasks: tuple[str, ...] | None  # None: every task of the run that has train and validation splits
    epochs: float
    batch_size: int
    learning_rate: float
    warmup_ratio: float
    weight_decay: float
    max_steps: int
    eval_steps: int
    max_length: int
    seed: int
    precision: str
    output_dir: str
    max_train_pairs: int | None
    keep: str

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise unknown_choice("cross.head", self.head, HEADS)
        check_schedule(self, "cross")
        if self.max_length < 8:
            raise BenchError(f"cross.max_length={self.max_length} is not valid: expected an integer >= 8 (tokens of a pair).")

    @classmethod
    def from_config(cls, cfg) -> CrossRecipe:
        given = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        c = {**conf_values("cross", "_cross"), **given}
        unknown = sorted(set(c) - set(cls.__dataclass_fields__))
        if unknown:
            raise BenchError(f"unknown cross setting(s) {unknown}; valid: {', '.join(sorted(cls.__dataclass_fields__))}.")
        c["tasks"] = tuple(c["tasks"]) if c.get("tasks") is not None else None
        as_numbers(c, NUMERIC, "cross")
        return cls(**c)

    def training_settings(self) -> dict:
        """What shapes the trained model (part of a result's settings)."""
        return {k: v for k, v in asdict(self).items() if k not in NOT_TRAINING and k != "tasks"}

    def select(self, specs: list[TaskSpec]) -> list[TaskSpec]:
        """The run's tasks this recipe trains on, each checked to have a head; an error names the valid ones."""
        if self.tasks is None:
            chosen = [s for s in specs if self.head == "task" or s.type == "pair_classification"]
        else:
            from bench.config import group_choices

            by_name = {s.name: s for s in specs} | {s.result_name: s for s in specs}
            unknown = [n for n in self.tasks if n not in by_name and n.split(".")[0] not in group_choices("task")]
            if unknown:
                raise BenchError(f"cross.tasks names {unknown}, which are not tasks; valid: "
                                 f"{', '.join(sorted(set(by_name) | set(group_choices('task'))))}.")
            # a recipe's list narrowed to the run's tasks: cross=nli task=cdsc_e trains on CDSC-E alone
            chosen = list({by_name[n].result_name: by_name[n] for n in self.tasks if n in by_name}.values())
        for spec in chosen:
            head_for(spec, self.head)
        if not chosen:
            raise BenchError(f"cross={self.name} trains on {', '.join(self.tasks or ())}, none of which is in this "
                             f"run's tasks ({', '.join(s.result_name for s in specs)}); choose them with task=... .")
        return chosen
