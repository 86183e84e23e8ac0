"""Training and validation data for fine-tuning, built from the harness's task configs.

Only the ``train`` and ``validation`` splits are ever requested from :func:`bench.tasks.load_task`;
model selection uses validation, so the test split stays untouched until the harness evaluates the
saved model.
"""

from __future__ import annotations

import logging

from datasets import Dataset, concatenate_datasets

from bench.data.schema import PairData
from bench.errors import BenchError
from bench.tasks import TaskSpec, load_task

log = logging.getLogger(__name__)

TRAINING_SPLITS = ("train", "validation")
NLI_LABELS = ("NEUTRAL", "CONTRADICTION", "ENTAILMENT")
#: What each loss consumes: relatedness scores in [0, 1], 3-way labels, or (anchor, positive) pairs.
LOSS_DATA = {"cosent": "scores", "cosine": "scores", "angle": "scores", "softmax": "nli", "mnrl": "entailment_pairs"}


def load_training_splits(specs: list[TaskSpec], root, check_rows: bool = True) -> dict[str, dict[str, PairData]]:
    """train and validation of every task; never the test split."""
    out = {}
    for spec in specs:
        missing = [s for s in TRAINING_SPLITS if s not in spec.splits]
        if missing:
            raise BenchError(f"task {spec.result_name} has no {', '.join(missing)} split to train or select on.")
        out[spec.result_name] = load_task(spec, root, splits=TRAINING_SPLITS, check_rows=check_rows)
    return out


def scores_dataset(spec: TaskSpec, part: PairData) -> Dataset:
    if spec.type != "sts":
        raise BenchError(f"{spec.result_name} has no relatedness scores; use it with loss softmax or mnrl.")
    low, high = spec.target.score_range
    return Dataset.from_dict({"sentence1": part.sentence1, "sentence2": part.sentence2,
                              "score": [(float(x) - low) / (high - low) for x in part.targets]})


def nli_dataset(spec: TaskSpec, part: PairData) -> Dataset:
    unknown = sorted(set(part.raw_labels) - set(NLI_LABELS))
    if not part.raw_labels or unknown:
        raise BenchError(f"{spec.result_name} has no 3-way NLI labels ({', '.join(NLI_LABELS)}); got {unknown or 'none'}.")
    index = {label: i for i, label in enumerate(NLI_LABELS)}
    return Dataset.from_dict({"sentence1": part.sentence1, "sentence2": part.sentence2,
                              "label": [index[x] for x in part.raw_labels]})


def entailment_pairs_dataset(spec: TaskSpec, part: PairData) -> Dataset:
    """(anchor, positive) pairs for in-batch negatives: the entailed pairs of an NLI task."""
    keep = [i for i, label in enumerate(part.raw_labels) if label == "ENTAILMENT"]
    if not keep:
        raise BenchError(f"{spec.result_name} has no ENTAILMENT pairs for loss mnrl.")
    return Dataset.from_dict({"anchor": [part.sentence1[i] for i in keep], "positive": [part.sentence2[i] for i in keep]})


BUILDERS = {"scores": scores_dataset, "nli": nli_dataset, "entailment_pairs": entailment_pairs_dataset}


def training_dataset(loss: str, specs: list[TaskSpec], splits: dict[str, dict[str, PairData]]) -> Dataset:
    """The train splits of the recipe's tasks in the loss's format, concatenated."""
    builder = BUILDERS[LOSS_DATA[loss]]
    parts = [builder(spec, splits[spec.result_name]["train"]) for spec in specs]
    for spec, part in zip(specs, parts):
        log.info("training data: %s/train, %d examples for loss %s", spec.result_name, len(part), loss)
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]
