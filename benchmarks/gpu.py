"""GPU encoding benchmark: ``python benchmarks/gpu.py [--model minilm] [--repeat 3]`` on a CUDA machine.

For one model and strategy (default: the embedded model, ``mean``) over the Polish suite's distinct test
sentences (length-sorted batches, as bench encodes), it measures sentences per second of bench's own encoding
backend (:func:`bench.encoding.build.build_backend` + :func:`bench.encoding.encode.forward`: tokenise, forward, pool) in
fp32, bf16 and fp16, each with PyTorch's default attention (sdpa) and, where installed, FlashAttention-2
(``attn_implementation=flash_attention_2``, the ``model.attn_implementation`` setting), fastest of N with
``torch.cuda.synchronize``; and each variant's main scores on the suite minus fp32's (the scores bench would
report with ``encode.half=true`` / ``model.attn_implementation=...``). Without a CUDA GPU it says so and
exits with status 2, measuring nothing.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: (label, dtype name, attn_implementation): fp32 first, the reference of the score differences.
VARIANTS = [("fp32", "float32", "sdpa"), ("bf16", "bfloat16", "sdpa"), ("fp16", "float16", "sdpa"),
            ("bf16+fa2", "bfloat16", "flash_attention_2"), ("fp16+fa2", "float16", "flash_attention_2")]


def suite(data_root: str):
    from bench.config import compose_config
    from bench.tasks.spec import load_task, task_specs

    specs = task_specs(compose_config([f"data.root={data_root}"]).task)
    return [(spec, load_task(spec, data_root, splits=(spec.eval_split,))[spec.eval_split]) for spec in specs]


def has_flash_attention() -> bool:
    from transformers.utils import is_flash_attn_2_available

    return bool(is_flash_attn_2_available())


def measure(resolved, pooling, tasks, dtype_name: str, attn: str, batch: int, repeat: int) -> dict:
    """Sentences per second (fastest of ``repeat``) and main scores of one precision and attention kernel."""
    import dataclasses

    import numpy as np
    import torch

    from bench.encoding.build import build_backend
    from bench.encoding.encode import forward
    from bench.scoring import SCORERS

    kernel = dataclasses.replace(resolved, spec=dataclasses.replace(resolved.spec, attn_implementation=attn))
    backend = build_backend(kernel, [pooling], "cuda", getattr(torch, dtype_name))
    by_prompt: dict[str, list[str]] = {}
    for spec, split in tasks:
        by_prompt.setdefault(resolved.spec.prompt(spec.type, spec.mteb_name), []).extend(split.sentences)
    texts = {prompt: list(dict.fromkeys(prompt + t for t in group)) for prompt, group in by_prompt.items()}
    forward(texts[next(iter(texts))][:256], backend, batch_size=batch, progress=False)  # warm-up: kernels, allocator
    best, vectors = float("inf"), {}
    for _ in range(repeat):
        torch.cuda.synchronize()
        start = time.perf_counter()
        vectors = {prompt: forward(group, backend, batch_size=batch, progress=False)[0][pooling.slug]
                   for prompt, group in texts.items()}
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    index = {prompt: {t: i for i, t in enumerate(group)} for prompt, group in texts.items()}
    scores = {}
    for spec, split in tasks:
        prompt = resolved.spec.prompt(spec.type)
        rows = lambda sentences, p=prompt: vectors[p][np.array([index[p][p + s] for s in sentences])]  # noqa: E731
        scores[spec.result_name] = float(SCORERS[spec.type](rows(split.sentence1), rows(split.sentence2),
                                                            split.targets)["main_score"])
    n = sum(len(group) for group in texts.values())
    del backend
    torch.cuda.empty_cache()
    return {"seconds": best, "sentences": n, "sentences_per_second": n / best, "main_scores": scores}


def main(argv=None) -> int:
    from bench.commands import command_parser

    parser = command_parser("python benchmarks/gpu.py", __doc__)
    parser.add_argument("--model", default="minilm", help="a conf/model name (default: the embedded model)")
    parser.add_argument("--pooling", default="mean", help="a conf/pooling name (default mean)")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the measurements as JSON here")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("benchmarks/gpu.py measures CUDA encoding, but torch.cuda.is_available() is False on this machine "
              f"(torch {torch.__version__}); nothing was measured. Run it on a machine with an NVIDIA GPU.",
              file=sys.stderr)
        return 2
    from bench.config import conf_values
    from bench.encoding.pooling import PoolingSpec
    from bench.models.loading import resolve
    from bench.models.spec import ModelSpec

    resolved = resolve(ModelSpec.from_config(conf_values("model", args.model)))
    pooling = PoolingSpec.from_config(conf_values("pooling", args.pooling))
    tasks = suite(args.data_root)
    flash = has_flash_attention()
    print(f"{torch.cuda.get_device_name()} | torch {torch.__version__} | model {resolved.spec.name} | "
          f"pooling {pooling.slug} | batch {args.batch_size} | FlashAttention-2 "
          f"{'available' if flash else 'not installed (fa2 variants skipped)'}", flush=True)
    results = {}
    for label, dtype_name, attn in VARIANTS:
        if attn == "flash_attention_2" and not flash:
            continue
        if dtype_name == "bfloat16" and not torch.cuda.is_bf16_supported():
            continue
        try:
            results[label] = measure(resolved, pooling, tasks, dtype_name, attn, args.batch_size, args.repeat)
        except Exception as exc:  # one variant this model or GPU cannot run: reported, the others still measured
            results[label] = {"error": f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        print(f"{label:9s} {json.dumps({k: v for k, v in results[label].items() if k != 'main_scores'})}", flush=True)
    reference = results.get("fp32", {})
    print("\n| variant | sentences/s | speed-up over fp32 | max abs main-score diff vs fp32 |\n|---|---:|---:|---:|")
    for label, result in results.items():
        if "error" in result or "error" in reference:
            continue
        diffs = [abs(result["main_scores"][t] - reference["main_scores"][t]) for t in reference["main_scores"]]
        print(f"| {label} | {result['sentences_per_second']:.0f} | "
              f"{result['sentences_per_second'] / reference['sentences_per_second']:.2f}x | {max(diffs):.2e} |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
