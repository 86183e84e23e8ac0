"""bench's tasks as a sentence-transformers evaluator: ``SentenceTransformerTrainer(evaluator=BenchEvaluator())``.

Each call scores the model being trained with :func:`bench.evaluate` on the tasks' validation splits (the
test splits are never read), so the numbers are bench's main scores computed by the run pipeline itself:
the same data reading, prompts, encoding (each distinct sentence once) and scorers as a benchmark run.
Nothing is stored (the scores are of a split other than the tasks' own) and the embedding cache is off by
default: every training step is a new model, whose vectors would never be read again. ``bench.train`` picks
its checkpoints with this same class (:func:`bench.train.loop.selection_evaluator`), so there is one
implementation of validation scoring.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping

from bench.api import compose, evaluate
from bench.errors import BenchError

try:  # sentence-transformers >= 6
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
except ImportError:  # 3.x - 5.x
    from sentence_transformers.evaluation import SentenceEvaluator as BaseEvaluator

log = logging.getLogger(__name__)

#: The metric (without prefix) of the mean main score over several tasks: the primary metric then.
MEAN = "mean_main_score"


class BenchEvaluator(BaseEvaluator):
    """Validation scores of bench's tasks for a sentence-transformers trainer.

    Args:
        tasks: a task or suite name of ``conf/task`` (``"polish"``, ``"cdsc_r"``), or a composed ``task``
            node (a run config's ``cfg.task``, as ``bench.train`` passes its selection tasks).
        split: the split scored; any split but ``test`` (default ``validation``).
        pooling: the strategy (default: the model's own pipeline, ``sbert``).
        name: the prefix of the metric names (``bench_cdsc_r_main_score``).
        **settings: the command line's settings, as for :func:`bench.evaluate` (``data_root=DIR``,
            ``encode={"batch_size": 64}``, ``model={"prompts": {...}}``); checked now, so a typo fails before
            training starts.

    The metrics are ``<name>_<task>_main_score`` per task and, with several tasks,
    ``<name>_mean_main_score``, which is then the ``primary_metric`` (a checkpoint is picked on it with
    ``metric_for_best_model="eval_<name>_mean_main_score"``).

    Raises:
        BenchError: ``split="test"``, an unknown task or setting (with the command line's message).

    Example:
        >>> import bench
        >>> from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
        >>> evaluator = bench.BenchEvaluator(tasks="cdsc_r", data_root="../shared/data")
        >>> evaluator(SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2"))
        {'bench_cdsc_r_main_score': 0.8...}
        >>> # SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss, evaluator=evaluator)
    """

    def __init__(self, tasks: str | Mapping = "polish", split: str = "validation", pooling: str | None = None,
                 name: str = "bench", **settings):
        super().__init__()
        if split == "test":
            raise BenchError("BenchEvaluator scores validation data only: the test split decides the benchmark "
                             "result and must not steer training (use split='validation').")
        settings.setdefault("cache", {"enabled": False})
        settings.setdefault("stats", {"bootstrap": 0})  # intervals are not needed to pick a checkpoint
        self.tasks, self.split, self.pooling, self.name, self.settings = tasks, split, pooling, name, settings
        cfg, _ = compose("minilm", tasks, pooling, settings)  # a bad task or setting fails now, not at step 500
        from bench.tasks.spec import task_specs

        self.task_names = [spec.result_name for spec in task_specs(cfg.task)]
        self.primary_metric = MEAN if len(self.task_names) > 1 else f"{self.task_names[0]}_main_score"

    def scores(self, model) -> dict[str, float]:
        """``<task>_main_score`` per task, and their mean with several tasks (no prefix)."""
        frame = evaluate(model, self.tasks, self.pooling, split=self.split, **self.settings)
        out = {f"{row.task}_main_score": float(row.main_score) for row in frame.itertuples()}
        if len(out) > 1:
            out[MEAN] = sum(out.values()) / len(out)
        return out

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        scores = self.scores(model)
        log.info("%s %s scores at epoch %s step %s: %s", self.name, self.split, epoch, steps,
                 ", ".join(f"{k}={v:.4f}" for k, v in scores.items()))
        metrics = self.prefix_name_to_metrics(scores, self.name)
        # sentence-transformers 3.x takes (model, metrics); later releases also the epoch and step
        takes_step = "epoch" in inspect.signature(self.store_metrics_in_model_card_data).parameters
        self.store_metrics_in_model_card_data(model, metrics, *((epoch, steps) if takes_step else ()))
        return metrics
