"""A cross-encoder recipe (``conf/cross/*.yaml``), checked before any data or model is loaded."""

from __future__ import annotations

from dataclasses import asdict

from omegaconf import DictConfig, OmegaConf

from bench.config import CrossConfig, conf_values, domain_values, frozen_from
from bench.cross.heads import HEADS, head_for
from bench.errors import BenchError, unknown_choice
from bench.tasks.spec import TaskSpec
from bench.train.recipe import check_schedule

#: Fields that do not change what is trained (where it goes, what is kept).
NOT_TRAINING = frozenset({"output_dir", "keep", "name"})


@frozen_from(CrossConfig)
class CrossRecipe:
    """A ``conf/cross/*.yaml`` recipe: the fields of :class:`bench.config.CrossConfig` (lists as tuples); ``tasks``
    None: every task of the run that has train and validation splits."""

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise unknown_choice("cross.head", self.head, HEADS)
        check_schedule(self, CrossConfig, "cross")

    @classmethod
    def from_config(cls, cfg) -> CrossRecipe:
        given = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        return cls(**domain_values(CrossConfig, {**conf_values("cross", "_cross", with_defaults=True), **given},
                                   "cross"))

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
