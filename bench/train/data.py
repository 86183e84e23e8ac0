"""Training and validation data for fine-tuning, built from the harness's task configs.

Only the ``train`` and ``validation`` splits are ever requested from :func:`bench.tasks.spec.load_task`;
model selection uses validation, so the test split stays untouched until the harness evaluates the
saved model.
"""

from __future__ import annotations

import logging

from datasets import Dataset, concatenate_datasets

from bench.errors import BenchError
from bench.tasks.schema import PairData
from bench.tasks.spec import TaskSpec, load_task

log = logging.getLogger(__name__)

TRAINING_SPLITS = ("train", "validation")
NLI_LABELS = ("NEUTRAL", "CONTRADICTION", "ENTAILMENT")
#: What each loss consumes: relatedness scores in [0, 1], 3-way labels, (anchor, positive) pairs, or sentences
#: alone (unsupervised SimCSE: each sentence is its own positive, dropout the noise; masked-LM pretraining).
LOSS_DATA = {"cosent": "scores", "cosine": "scores", "angle": "scores", "softmax": "nli", "mnrl": "entailment_pairs",
             "simcse": "sentences", "mlm": "sentences"}


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
    """(anchor, positive) pairs for in-batch negatives: the positive pairs of a pair-classification task (the
    entailed pairs of CDSC-E and SICK-E-PL, the paraphrases of PPC)."""
    if spec.type != "pair_classification":
        raise BenchError(f"{spec.result_name} has no positive pairs (it is {spec.type}); use it with a score loss.")
    keep = [i for i, target in enumerate(part.targets) if target == 1]
    if not keep:
        raise BenchError(f"{spec.result_name} has no positive pairs for loss mnrl.")
    return Dataset.from_dict({"anchor": [part.sentence1[i] for i in keep], "positive": [part.sentence2[i] for i in keep]})


def distinct(sentences) -> list[str]:
    return list(dict.fromkeys(s for s in sentences if s.strip()))


def sentences_dataset(spec: TaskSpec, part: PairData) -> Dataset:
    """Every distinct sentence of a split, as (anchor, positive) = (s, s): labels are not used."""
    texts = distinct(part.sentences)
    return Dataset.from_dict({"anchor": texts, "positive": texts})


def text_file_dataset(path: str) -> Dataset:
    """A user's text, one sentence per line (blank lines skipped, duplicates once)."""
    from pathlib import Path

    try:
        texts = distinct(Path(path).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"train.text_file={path} cannot be read: {exc}") from None
    if not texts:
        raise BenchError(f"train.text_file={path} holds no sentences (one per line).")
    return Dataset.from_dict({"anchor": texts, "positive": texts})


BUILDERS = {"scores": scores_dataset, "nli": nli_dataset, "entailment_pairs": entailment_pairs_dataset,
            "sentences": sentences_dataset}


def training_dataset(loss: str, specs: list[TaskSpec], splits: dict[str, dict[str, PairData]],
                     text_file: str | None = None) -> Dataset:
    """The train splits of the recipe's tasks in the loss's format, concatenated; for a label-free loss, a
    user's text file instead when one is given."""
    builder = BUILDERS[LOSS_DATA[loss]]
    if text_file and LOSS_DATA[loss] == "sentences":
        data = text_file_dataset(text_file)
        log.info("training data: %s, %d sentences for %s", text_file, len(data), loss)
        return data
    parts = [builder(spec, splits[spec.result_name]["train"]) for spec in specs]
    for spec, part in zip(specs, parts):
        log.info("training data: %s/train, %d examples for loss %s", spec.result_name, len(part), loss)
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]
