"""Inference backends besides PyTorch: ONNX Runtime and OpenVINO on CPU, in fp32 or int8.

``encode.backend=onnx|openvino`` runs the same encoder, exported once from the PyTorch weights, under
another runtime; pooling (every hidden-state strategy, and the rest of a sentence-transformers pipeline
for ``sbert``) stays bench's own PyTorch code, so only the transformer changes hands. fp32 exports give
the PyTorch scores to about 1e-6. ``encode.quantize=int8`` is a different model, so it is a labelled
strategy of its own with its own identity:

* ``encode.backend=onnx``: ONNX Runtime's dynamic int8 quantization (int8 weights, activations quantized
  per batch; ``mean+onnx-int8``);
* ``encode.backend=openvino``: NNCF's static post-training quantization (``nncf.quantize``: int8 weights
  and activations, activation scales calibrated once; ``mean+openvino-int8``). Its calibration sentences
  are a fixed corpus that is never test data: the train-split sentences of the run's task group that occur
  in none of the group's evaluated splits, evenly spaced in length (:func:`calibration_corpus`); the
  corpus (tasks, count, digest) and NNCF's settings and version are in the identity. (OpenVINO runs ONNX
  Runtime's dynamic int8 graph slower than its own fp32, so that one is not offered on OpenVINO.)

Exports are cached on disk (``<cache.dir>/exports/``), keyed by the source weights and files digests, the
hidden states exported, the precision, the quantizer (settings, version, calibration corpus) and the
versions of the exporter and runtime; a changed input makes a new export, never a stale one. Export is
PyTorch's ``torch.onnx.export``; OpenVINO converts the ONNX graph (``openvino.convert_model``); int8 is
``onnxruntime.quantization.quantize_dynamic`` or ``nncf.quantize``.

Why not Optimum (``SentenceTransformer(backend="onnx")``, ``export_static_quantized_openvino_model``):
optimum-onnx 0.1 requires transformers < 4.58 and optimum-intel 2.2 transformers < 5.6, while bench runs
on transformers 5; the runtimes and NNCF themselves have no such pin. ``nncf.quantize`` with
``ModelType.TRANSFORMER`` on the OpenVINO model is what optimum-intel's static quantization calls.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from bench.digests import digest_json
from bench.encoding.pooling import PoolingSpec, check_layers, pool_many
from bench.encoding.torch_backend import count_tokens
from bench.errors import BenchError, unknown_choice

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "openvino")
QUANTIZATIONS = (None, "int8")
#: The distribution that provides each runtime (its version goes into a result's identity).
RUNTIME_PACKAGES = {"onnx": "onnxruntime", "openvino": "openvino"}
#: ONNX operator set of the exports (17: LayerNormalization as one op).
OPSET = 17
#: ``onnxruntime.quantization.quantize_dynamic`` settings of ``encode.quantize=int8``: signed int8 weights with one
#: scale per output channel (per-tensor scales cost up to 0.013 on CDSC-R's Spearman for the embedded model).
QUANTIZER = {"weight_type": "QInt8", "per_channel": True, "reduce_range": False}
#: ``nncf.quantize`` settings of ``encode.backend=openvino encode.quantize=int8`` (static int8 weights and
#: activations). ``model_type=transformer`` keeps the precision-sensitive ops (softmax, layer norms) in floating
#: point and smooths activation outliers (SmoothQuant); ``subset_size``: calibration sentences, one per sample.
STATIC_QUANTIZER = {"method": "nncf.quantize", "model_type": "transformer", "preset": "mixed", "subset_size": 300,
                    "fast_bias_correction": True}
#: The split the calibration sentences come from.
CALIBRATION_SPLIT = "train"
#: The attention implementation traced into the export.
EXPORT_ATTENTION = "eager"
INSTALL = "pip install 'polish-embedding-bench[backends]' (onnxruntime, openvino, onnx, nncf)"


@dataclass(frozen=True)
class BackendSpec:
    """Which runtime runs the encoder, at which precision, and with which attention kernel (PyTorch only)."""

    name: str = "torch"
    quantize: str | None = None
    attn_implementation: str | None = None
    #: The calibration sentences of a statically quantized model (OpenVINO int8); set by :meth:`calibrated`.
    calibration: Calibration | None = None

    @classmethod
    def from_config(cls, encode, attn_implementation: str | None = None) -> BackendSpec:
        """``encode``'s backend and quantization; ``attn_implementation``: the model's (``model.attn_implementation``),
        which only PyTorch runs."""
        name = str(encode.get("backend") or "torch")
        if name not in BACKENDS:
            raise unknown_choice("encode.backend", name, BACKENDS)
        quantize = encode.get("quantize")
        quantize = None if quantize in (None, "none", False) else str(quantize)
        if quantize not in QUANTIZATIONS:
            raise BenchError(f"encode.quantize={quantize!r} is not valid: use null (the model's own precision) or int8.")
        return cls(name, quantize, None if attn_implementation is None else str(attn_implementation))

    def check(self, device: str, half: bool) -> None:
        """Combinations that cannot run (on the device the run picked) are refused before any work, naming
        what to change."""
        if self.quantize and self.name == "torch":
            raise BenchError("encode.quantize=int8 needs an exported model: add encode.backend=onnx or "
                             "encode.backend=openvino (PyTorch runs the model at its own precision).")
        if self.name == "torch":
            return
        if self.attn_implementation is not None:
            raise BenchError(f"model.attn_implementation selects a PyTorch attention kernel; it does not apply to "
                             f"encode.backend={self.name}. Remove it or use encode.backend=torch.")
        if device.split(":")[0] in ("cuda", "mps"):
            raise BenchError(f"encode.backend={self.name} runs on the CPU here; use encode.device=cpu, or "
                             f"encode.backend=torch (with encode.half=true) on {device}.")
        if half:
            raise BenchError(f"encode.half=true is a GPU setting of the PyTorch backend; with encode.backend={self.name} "
                             f"use encode.quantize=int8 for a smaller, faster model, or encode.half=false.")
        missing = [pkg for pkg in ("onnx", "onnxruntime", *(["openvino"] if self.name == "openvino" else []),
                                   *(["nncf"] if self.static else [])) if _version(pkg) is None]
        if missing:
            raise BenchError(f"encode.backend={self.name} needs {', '.join(missing)}, which is not installed: {INSTALL}.")

    @property
    def exported(self) -> bool:
        return self.name != "torch"

    @property
    def static(self) -> bool:
        """Whether the model is quantized with calibrated (static) activation scales: OpenVINO's int8."""
        return self.quantize == "int8" and self.name == "openvino"

    @property
    def precision(self) -> str:
        """What the encoder computes in: fp32, or int8 with the way it was made."""
        if self.quantize == "int8":
            return "int8-static" if self.static else "int8-dynamic"
        return "fp32"

    def calibrated(self, calibration: Calibration) -> BackendSpec:
        """This spec with its calibration sentences (a statically quantized model needs them to be exported)."""
        return dataclasses.replace(self, calibration=calibration)

    def quantizer(self) -> dict | None:
        """How the int8 model is made: the quantizer's settings (and, static, NNCF's version and the calibration
        corpus); None for fp32."""
        if not self.quantize:
            return None
        if not self.static:
            return QUANTIZER
        if self.calibration is None:
            raise BenchError("encode.backend=openvino encode.quantize=int8 needs its calibration sentences "
                             "(bench.encoding.backends.calibration_corpus) before it is exported or identified.")
        return {**STATIC_QUANTIZER, "nncf": _version("nncf"), "calibration": self.calibration.describe()}

    @property
    def slug(self) -> str:
        """A strategy-name suffix for a quantized model (``onnx-int8``); empty for fp32, which gives the same
        numbers as PyTorch and differs only in the identity's backend block."""
        return f"{self.name}-{self.quantize}" if self.quantize else ""

    def identity(self) -> dict:
        """What the result's identity (its ``model`` settings) records of the backend; nothing for plain
        PyTorch, so existing results keep their settings id. Also part of the embedding cache's key."""
        if not self.exported:  # PyTorch's attention kernel is the model's setting (bench.identity.attention)
            return {}
        out = {"backend": self.name, "backend_version": _version(RUNTIME_PACKAGES[self.name]),
               "precision": self.precision}
        if self.static:  # (ONNX Runtime's dynamic int8 keeps the identity it had, so its settings id stays)
            out["quantizer"] = self.quantizer()
        return out

    def provenance(self) -> dict:
        """The backend in a result's ``encoding`` provenance (PyTorch too), with what made the export."""
        out: dict = {"backend": self.name}
        if self.exported:
            out.update(backend_version=_version(RUNTIME_PACKAGES[self.name]), precision=self.precision,
                       export=export_versions(), **({"quantizer": self.quantizer()} if self.quantize else {}))
        if self.attn_implementation:
            out["attn_implementation"] = self.attn_implementation
        return out


@dataclass(frozen=True)
class Calibration:
    """The sentences a static int8 model's activation scales are calibrated on, and where they come from."""

    texts: tuple[str, ...]
    tasks: tuple[str, ...]
    split: str = CALIBRATION_SPLIT

    def describe(self) -> dict:
        """The corpus in an identity: its source, size and content digest (not the sentences themselves)."""
        return {"split": self.split, "tasks": list(self.tasks), "sentences": len(self.texts),
                "excludes": "every sentence of the tasks' evaluated splits", "selection": "evenly spaced in length",
                "sha256": digest_json(list(self.texts), 64)}


def calibration_corpus(specs, data_root, size: int = STATIC_QUANTIZER["subset_size"]) -> Calibration:
    """A fixed calibration corpus that is never test data: the distinct sentences of the tasks' train splits that
    occur in none of their evaluated (test) splits, ``size`` of them evenly spaced in length order (so it has
    the corpus's mix of lengths). It depends on the task group, not on which of its tasks a run evaluates, so one
    export serves them all."""
    from bench.tasks.spec import load_task

    tasks = [spec for spec in specs if CALIBRATION_SPLIT in spec.splits]
    if not tasks:
        raise BenchError(f"encode.backend=openvino encode.quantize=int8 calibrates on the tasks' "
                         f"'{CALIBRATION_SPLIT}' sentences, and none of {[s.name for s in specs]} has that split: "
                         f"use encode.backend=onnx encode.quantize=int8 (no calibration), or a task with one.")
    train: dict[str, None] = {}
    evaluated: set[str] = set()
    for spec in tasks:
        parts = load_task(spec, data_root, splits=tuple(dict.fromkeys((CALIBRATION_SPLIT, spec.eval_split))),
                          check_rows=False)
        train.update(dict.fromkeys(parts[CALIBRATION_SPLIT].sentences))
        evaluated.update(parts[spec.eval_split].sentences)
    ranked = sorted((t for t in train if t not in evaluated), key=lambda t: (len(t), t))
    if len(ranked) > size:
        ranked = [ranked[round(i * (len(ranked) - 1) / (size - 1))] for i in range(size)]
    if not ranked:
        raise BenchError(f"encode.backend=openvino encode.quantize=int8: the '{CALIBRATION_SPLIT}' splits of "
                         f"{[s.name for s in tasks]} hold no sentence outside their test splits to calibrate on.")
    return Calibration(tuple(ranked), tuple(spec.name for spec in tasks))


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def export_versions() -> dict:
    """What an export depends on besides the weights: the exporter, the opset, and the attention traced."""
    return {"torch": torch.__version__, "onnx": _version("onnx"), "opset": OPSET, "attention": EXPORT_ATTENTION}


# --- export ---------------------------------------------------------------------------------------------


class _HiddenStates(torch.nn.Module):
    """The encoder as an ONNX graph: the requested hidden states stacked, and the pooler output if asked."""

    def __init__(self, model, names: Sequence[str], layers: Sequence[int], pooler: bool):
        super().__init__()
        self.model, self.names, self.layers, self.pooler = model, list(names), list(layers), pooler

    def forward(self, *inputs):
        out = self.model(**dict(zip(self.names, inputs)), output_hidden_states=True)
        hidden = torch.stack([out.hidden_states[i] for i in self.layers])
        return (hidden, out.pooler_output) if self.pooler else hidden


def export_key(resolved, spec: BackendSpec, layers: Sequence[int], pooler: bool) -> dict:
    """Everything that changes an exported graph."""
    return {"weights_sha256": resolved.weights_sha256, "files_sha256": resolved.files_sha256,
            "backend": spec.name, "precision": spec.precision, "layers": list(layers), "pooler": pooler,
            "export": export_versions(), "quantizer": spec.quantizer(),
            "runtime": {pkg: _version(pkg) for pkg in ("onnxruntime", *(["openvino"] if spec.name == "openvino" else []))}}


def exported_model(resolved, spec: BackendSpec, layers: Sequence[int], pooler: bool, root: Path) -> Path:
    """The exported encoder's folder under ``root``, exported now unless an export of this key is there."""
    key = export_key(resolved, spec, layers, pooler)
    folder = Path(root) / f"{resolved.spec.slug}-{digest_json(key, 20)}"
    if (folder / "export.json").is_file():
        log.info("exported %s model: %s", spec.name, folder)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        _export(resolved, spec, layers, pooler, work)
        (work / "export.json").write_text(json.dumps(key, indent=2, sort_keys=True), encoding="utf-8")
        try:
            os.replace(work, folder)  # a whole folder appears at once; another process may have won the race
        except OSError:
            if not (folder / "export.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("exported %s (%s, %s) to %s", resolved.spec.name, spec.name, spec.precision, folder)
    return folder


def _export(resolved, spec: BackendSpec, layers: Sequence[int], pooler: bool, work: Path) -> None:
    from bench.models.loading import load_transformer

    # eager attention exports as the MatMul/Softmax pattern ONNX Runtime fuses into its Attention kernel
    tokenizer, model, _ = load_transformer(resolved, "cpu", torch.float32, EXPORT_ATTENTION)
    sample = tokenizer(["Ala ma kota.", "Zdanie nieco dłuższe od pierwszego."], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    outputs = ["hidden_states", *(["pooler_output"] if pooler else [])]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"hidden_states": {1: "batch", 2: "tokens"}}
    if pooler:
        axes["pooler_output"] = {0: "batch"}
    onnx_path = work / "model.onnx"
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(_HiddenStates(model, names, layers, pooler), tuple(sample[n] for n in names), str(onnx_path),
                          input_names=names, output_names=outputs, dynamic_axes=axes, opset_version=OPSET,
                          dynamo=False)
    if spec.quantize == "int8" and not spec.static:  # ONNX Runtime's dynamic int8; OpenVINO's is quantized below
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = work / "model.int8.onnx"
        quantize_dynamic(str(onnx_path), str(quantized), weight_type=getattr(QuantType, QUANTIZER["weight_type"]),
                         per_channel=QUANTIZER["per_channel"], reduce_range=QUANTIZER["reduce_range"])
        onnx_path.unlink()
        onnx_path = quantized
    if spec.name == "openvino":
        import openvino as ov

        converted = ov.convert_model(str(onnx_path))
        if spec.static:
            converted = _quantize_static(converted, tokenizer, names, spec.calibration, resolved.spec.max_seq_length)
        ov.save_model(converted, str(work / "openvino_model.xml"), compress_to_fp16=False)
        onnx_path.unlink()


def _quantize_static(model, tokenizer, names: Sequence[str], calibration: Calibration, max_length: int | None):
    """NNCF's post-training quantization of the OpenVINO model, calibrated on ``calibration``'s sentences, one
    sentence per sample (no padding in the statistics)."""
    import nncf

    samples = [{n: np.asarray(v, dtype=np.int64) for n, v in
                tokenizer([text], truncation=True, max_length=max_length or 512, return_tensors="np").items()
                if n in names} for text in calibration.texts]
    settings = STATIC_QUANTIZER
    return nncf.quantize(model, nncf.Dataset(samples), model_type=nncf.ModelType(settings["model_type"]),
                         preset=nncf.QuantizationPreset(settings["preset"]), subset_size=len(samples),
                         fast_bias_correction=settings["fast_bias_correction"])


# --- running --------------------------------------------------------------------------------------------


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity, as a SLURM job or ``taskset`` sets it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def stream_plan(threads: int | None, streams: int | None) -> tuple[int, int]:
    """How many inference requests run at once (``encode.streams``) and the CPU threads each gets.

    ``streams=None``: two when the runtime has two or more CPU threads, else one. Two single-threaded requests
    keep both cores busy on whole batches of their own instead of splitting every small matrix product between
    them (OpenVINO's throughput mode); each batch is still computed alone, so the vectors are the same."""
    cores = int(threads) if threads else cpu_count()
    count = int(streams) if streams else (2 if cores >= 2 else 1)
    return count, max(1, cores // count)


class Runner:
    """One compiled encoder: numpy inputs by name -> list of numpy outputs, one batch at a time (``__call__``) or
    ``streams`` batches at once (:meth:`map`)."""

    def __init__(self, folder: Path, name: str, threads: int | None, streams: int | None = 1):
        self.name = name
        self.streams, per_stream = stream_plan(threads, streams)
        if name == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = per_stream if self.streams > 1 or threads else 0
            path = next(folder.glob("*.onnx"))
            # one session, run by several threads at once (ONNX Runtime's Run is thread-safe)
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self.inputs = [i.name for i in self.session.get_inputs()]
        else:
            import openvino as ov

            core = ov.Core()
            # fp32 means fp32: OpenVINO would otherwise run in bf16 on CPUs that have it
            config = {"INFERENCE_PRECISION_HINT": "f32"}
            if threads or self.streams > 1:
                config["INFERENCE_NUM_THREADS"] = per_stream * self.streams
            if self.streams > 1:
                config.update(PERFORMANCE_HINT="THROUGHPUT", NUM_STREAMS=str(self.streams))
            self.compiled = core.compile_model(core.read_model(str(folder / "openvino_model.xml")), "CPU", config)
            self.inputs = [i.get_any_name() for i in self.compiled.inputs]

    def _feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {n: np.ascontiguousarray(feeds[n], dtype=np.int64) for n in self.inputs}

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self.name == "onnx":
            return self.session.run(None, self._feeds(feeds))
        result = self.compiled(self._feeds(feeds))
        return [result[output] for output in self.compiled.outputs]

    def map(self, feeds: Iterable[dict[str, np.ndarray]]) -> Iterator[list[np.ndarray]]:
        """Each batch's outputs, in order, with up to ``streams`` batches computed at once; the next batch's
        inputs are read (tokenised) and the finished one's outputs used (pooled) while the others run."""
        if self.streams == 1:
            yield from map(self, feeds)
            return
        if self.name == "onnx":
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.streams, thread_name_prefix="bench-onnx") as pool:
                yield from _in_order(feeds, self.streams, lambda f: pool.submit(self.session.run, None, self._feeds(f)),
                                     lambda future: future.result())
            return
        requests = itertools.cycle([self.compiled.create_infer_request() for _ in range(self.streams)])

        def submit(f):
            request = next(requests)  # its previous batch was collected before this one (the window is the cycle)
            request.start_async(self._feeds(f))
            return request

        def collect(request):
            request.wait()
            return [request.get_tensor(output).data.copy() for output in self.compiled.outputs]

        yield from _in_order(feeds, self.streams, submit, collect)


def _in_order(feeds: Iterable, window: int, submit: Callable, collect: Callable) -> Iterator:
    """``collect(submit(f))`` for each of ``feeds`` in order, keeping up to ``window`` submitted at once."""
    running: deque = deque()
    for f in feeds:
        if len(running) == window:
            yield collect(running.popleft())
        running.append(submit(f))
    while running:
        yield collect(running.popleft())


class ExportedHiddenStateBackend:
    """:class:`bench.encoding.torch_backend.HiddenStateBackend` with the encoder run by ONNX Runtime or OpenVINO: the same
    tokenisation and the same pooling code over the hidden states it exports."""

    def __init__(self, tokenizer, runner: Runner, n_states: int, layers: Sequence[int], pooler: bool,
                 max_length: int, strategies: Sequence[PoolingSpec]):
        self.tokenizer, self.runner = tokenizer, runner
        self.n_states, self.layers, self.pooler = n_states, list(layers), pooler
        self.max_length = max_length
        self.strategies = list(strategies)

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return count_tokens(self.tokenizer, texts)

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return next(self.embed_batches([texts]))

    def embed_batches(self, batches: Iterable[Sequence[str]]) -> Iterator[dict[str, np.ndarray]]:
        """Each batch's vectors, in order; the runner computes up to ``encode.streams`` batches at once."""
        return _streamed(self.runner, batches, self._inputs, self._pool)

    def _inputs(self, texts: Sequence[str]):
        inputs = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="np")
        return dict(inputs), inputs

    def _pool(self, inputs, outputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        hidden: list[torch.Tensor | None] = [None] * self.n_states
        for j, index in enumerate(self.layers):
            hidden[index] = torch.from_numpy(outputs[0][j])
        mask = torch.from_numpy(np.asarray(inputs["attention_mask"]))
        pooled = pool_many(hidden, mask, [(s.fn, s.layers) for s in self.strategies if not s.uses_head])
        if self.pooler:
            pooled[("pooler", (-1,))] = torch.from_numpy(outputs[1])
        out = {}
        for strategy in self.strategies:
            vectors = pooled[(strategy.fn, strategy.layers)].float()
            if strategy.normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
            out[strategy.slug] = vectors.numpy()
        return out


def _streamed(runner: Runner, batches: Iterable[Sequence[str]], prepare: Callable, finish: Callable) -> Iterator:
    """``finish(kept, outputs)`` of each batch, in order, where ``prepare(texts)`` gives the runner's inputs and what
    ``finish`` keeps of them (the attention mask, the features), and the runner computes several batches at once."""
    kept: deque = deque()

    def feeds():
        for texts in batches:
            inputs, keep = prepare(texts)
            kept.append(keep)
            yield inputs

    for outputs in runner.map(feeds()):
        yield finish(kept.popleft(), outputs)


class ExportedPipelineBackend:
    """The model's sentence-transformers pipeline (``sbert``) with its transformer module run by ONNX Runtime
    or OpenVINO and the modules after it (Pooling, Dense, Normalize) by sentence-transformers itself, as
    sentence-transformers' own ONNX and OpenVINO backends do."""

    def __init__(self, model, runner: Runner, strategy: PoolingSpec):
        self.model, self.runner, self.strategy = model, runner, strategy
        self.max_length = int(model.max_seq_length)

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return count_tokens(self.model.tokenizer, texts)

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return next(self.embed_batches([texts]))

    def embed_batches(self, batches: Iterable[Sequence[str]]) -> Iterator[dict[str, np.ndarray]]:
        """Each batch's vectors, in order; the runner computes up to ``encode.streams`` batches at once."""
        return _streamed(self.runner, batches, self._inputs, self._finish)

    def _inputs(self, texts: Sequence[str]):
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize  # sentence-transformers < 6: tokenize
        features = prepare(list(texts))
        return {n: features[n].numpy() for n in self.runner.inputs}, features

    @torch.inference_mode()
    def _finish(self, features, outputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        features["token_embeddings"] = torch.from_numpy(outputs[0][0])
        for module in list(self.model)[1:]:
            features = module(features)
        vectors = features["sentence_embedding"].float()
        if self.strategy.normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
        return {self.strategy.slug: vectors.numpy()}


def hidden_layers(strategies: Sequence[PoolingSpec], n_states: int) -> tuple[list[int], bool]:
    """The hidden-state indices (non-negative, sorted) the strategies pool over, and whether one reads the pooler."""
    layers: set[int] = set()
    for strategy in strategies:
        if strategy.uses_head:
            continue
        check_layers(strategy.layers, n_states)
        layers.update(i % n_states for i in strategy.layers)
    return sorted(layers) or [n_states - 1], any(s.uses_head for s in strategies)


def build_exported_backend(resolved, strategies: list[PoolingSpec], spec: BackendSpec, root: Path,
                           threads: int | None = None, streams: int | None = None):
    """The encoding backend for ``spec`` (an exported one), exporting the model first if its export is not cached."""
    from bench.encoding.torch_backend import check_pooler, usable_strategies
    from bench.models.loading import load_sentence_transformer, load_tokenizer_and_config, load_transformer

    if strategies[0].uses_pipeline:
        model = load_sentence_transformer(resolved, "cpu", torch.float32)
        first = model[0]
        if getattr(first, "module_output_name", "token_embeddings") != "token_embeddings" or \
                type(first).__name__ != "Transformer":
            raise BenchError(f"encode.backend={spec.name}: the sentence-transformers pipeline of '{resolved.spec.name}' "
                             f"does not start with a text Transformer module ({type(first).__name__}); use "
                             f"encode.backend=torch, or a hidden-state pooling such as mean.")
        n_states = int(first.auto_model.config.num_hidden_layers) + 1
        folder = exported_model(resolved, spec, [n_states - 1], False, root)
        return ExportedPipelineBackend(model, Runner(folder, spec.name, threads, streams), strategies[0])
    # the PyTorch backend's checks decide which strategies run; only the pooler's needs the weights (is it trained?)
    if any(s.uses_head for s in strategies):
        tokenizer, model, untrained = load_transformer(resolved, "cpu", torch.float32)
        config = model.config
        checked = usable_strategies(strategies, config, resolved.spec.name,
                                    lambda: check_pooler(model, untrained, resolved.spec.name))
        del model
    else:
        tokenizer, config = load_tokenizer_and_config(resolved)
        checked = usable_strategies(strategies, config, resolved.spec.name)
    n_states = int(config.num_hidden_layers) + 1
    layers, pooler = hidden_layers(checked, n_states)
    folder = exported_model(resolved, spec, layers, pooler, root)
    return ExportedHiddenStateBackend(tokenizer, Runner(folder, spec.name, threads, streams), n_states, layers, pooler,
                                      resolved.spec.max_seq_length, checked)
