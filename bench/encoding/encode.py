"""Turning sentences into vectors: deduplicated, length-sorted, batched, truncated, one pass.

:func:`encode_distinct` is model-agnostic: it deduplicates the texts (CDSC's 2000 test sentences
hold 859 distinct strings), adds the model's prefix, sorts by token length so batches carry little
padding, counts truncated inputs, and asks a backend for each batch. A backend returns one array
per strategy, so several poolings of the same model share one forward pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.encoding.cache import CacheNamespace
from bench.encoding.device import pick_device, pick_dtype  # noqa: F401 -- re-exported for callers
from bench.encoding.pooling import PoolingSpec, check_layers, pool_many
from bench.errors import BenchError

log = logging.getLogger(__name__)

#: The length limit of a model that never truncates (static embeddings, ``model.max_seq_length: null``).
NO_LIMIT = 2**62


class Backend(Protocol):
    """What :func:`encode_distinct` needs from a model."""

    max_length: int

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]: ...


class HiddenStateBackend:
    """A bare transformer encoder pooled by one or more :class:`PoolingSpec` strategies."""

    def __init__(self, tokenizer, model, device: str, max_length: int, strategies: Sequence[PoolingSpec],
                 untrained: frozenset[str] = frozenset(), name: str = "the model"):
        if any(s.uses_pipeline for s in strategies):
            raise BenchError("the sbert strategy needs the sentence-transformers backend, not hidden states.")
        strategies = list(strategies)
        if strategies and strategies[0].uses_head:  # the strategy asked for: refused without a trained pooler
            check_pooler(model, untrained, name)
        elif any(s.uses_head for s in strategies):  # only a companion (encode.precompute): left out instead
            try:
                check_pooler(model, untrained, name)
            except BenchError as error:
                log.info("encode.precompute: 'pooler' left out for %s (%s)", name, error)
                strategies = [s for s in strategies if not s.uses_head]
        strategies = first_token_strategies(model, strategies, name)
        self.tokenizer, self.model, self.device = tokenizer, model, device
        self.max_length = max_length
        self.strategies = strategies
        layers = getattr(model.config, "num_hidden_layers", None)
        if isinstance(layers, int):  # a layer the model lacks fails now, not in the first batch
            for strategy in self.strategies:
                check_layers(strategy.layers, layers + 1)

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))

    @torch.inference_mode()
    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        inputs = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        outputs = self.model(**inputs, output_hidden_states=True)
        pooled = pool_many(outputs.hidden_states, inputs["attention_mask"],
                           [(s.fn, s.layers) for s in self.strategies if not s.uses_head])
        pooled[("pooler", (-1,))] = outputs.get("pooler_output")
        out = {}
        for strategy in self.strategies:
            vectors = pooled[(strategy.fn, strategy.layers)].float()
            if strategy.normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
            out[strategy.slug] = vectors.cpu().numpy()
        return out


class SentenceTransformerBackend:
    """The model's own sentence-transformers pipeline (strategy ``sbert``)."""

    def __init__(self, model, strategy: PoolingSpec):
        self.model, self.strategy = model, strategy
        limit = model.max_seq_length  # a static embedding's is infinite: it never truncates
        self.max_length = NO_LIMIT if limit is None or limit == float("inf") else int(limit)

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        from tokenizers import Tokenizer

        tokenizer = self.model.tokenizer
        if isinstance(tokenizer, Tokenizer):  # a static embedding's own tokenizer, as it encodes (no specials)
            ids = [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
        else:
            ids = tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        vectors = self.model.encode(
            list(texts), batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False,
            normalize_embeddings=self.strategy.normalize,
        )
        return {self.strategy.slug: vectors.astype(np.float32, copy=False)}


@dataclass
class Encoded:
    """Vectors for distinct texts, addressable by the original text."""

    index: dict[str, int]
    vectors: dict[str, np.ndarray]
    n_input: int
    n_distinct: int
    n_truncated: int
    n_encoded: int
    seconds: float

    def lookup(self, strategy: str, texts: Sequence[str]) -> np.ndarray:
        rows = np.fromiter((self.index[t] for t in texts), dtype=np.int64, count=len(texts))
        return self.vectors[strategy][rows]

    def stats(self) -> dict:
        return {
            "sentences_total": self.n_input,
            "sentences_distinct": self.n_distinct,
            "sentences_truncated": self.n_truncated,
            "sentences_encoded_this_run": self.n_encoded,
            "sentences_from_cache": self.n_distinct - self.n_encoded,
            "encode_seconds": round(self.seconds, 3),
        }


def check_texts(texts: Sequence[object]) -> None:
    """Every input must be a non-empty string: NaN (a float) or blank text is a data error."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BenchError(f"sentence {i} is not text (got {text!r}); check the data for missing values.")
        if not text.strip():
            raise BenchError(f"sentence {i} is empty; empty sentences cannot be embedded.")


#: The encoding pass hands finished vectors to the cache at least this often (seconds, or batches), so an
#: interrupted run resumes from where it was instead of starting over.
FLUSH_SECONDS = 60.0
FLUSH_BATCHES = 64

Sink = Callable[[np.ndarray, dict[str, np.ndarray], np.ndarray], None]


def forward(texts: Sequence[str], backend: Backend, *, batch_size: int, progress: bool,
            sink: Sink | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run the backend over ``texts`` in length-sorted batches; vectors per strategy and token lengths, in input order.

    ``sink(rows, vectors, lengths)`` receives finished rows every minute or so (and at the end)."""
    if batch_size < 1:
        raise BenchError(f"encode.batch_size must be >= 1, got {batch_size}.")
    lengths = backend.token_lengths(texts)
    order = np.argsort(-lengths, kind="stable")
    out: dict[str, np.ndarray] = {}
    pending: list[np.ndarray] = []
    last_flush = time.monotonic()
    batches = [order[begin : begin + batch_size] for begin in range(0, len(order), batch_size)]
    if hasattr(backend, "embed_batches"):  # several batches at once (processes, or an exported model's streams)
        results = backend.embed_batches([[texts[i] for i in rows] for rows in batches])
    else:
        results = (backend.embed_batch([texts[i] for i in rows]) for rows in batches)
    for rows, embedded in tqdm(zip(batches, results), total=len(batches), desc="encoding", unit="batch",
                               disable=not progress):
        for name, vectors in embedded.items():
            if name not in out:  # allocated once, filled in place: no concatenation or reordering copies
                out[name] = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[name][rows] = vectors
        pending.append(rows)
        if sink is not None and (len(pending) >= FLUSH_BATCHES or time.monotonic() - last_flush >= FLUSH_SECONDS):
            sink(np.concatenate(pending), out, lengths)
            pending, last_flush = [], time.monotonic()
    if sink is not None and pending:
        sink(np.concatenate(pending), out, lengths)
    return out, lengths


def _live(backend: Backend | Callable[[], Backend]) -> Backend:
    return backend if hasattr(backend, "embed_batch") else backend()


def encode_distinct(
    texts: Sequence[str],
    backend: Backend | Callable[[], Backend],
    *,
    strategies: Sequence[str] | None = None,
    namespaces: Mapping[str, CacheNamespace | None] | None = None,
    max_length: int | None = None,
    prefix: str = "",
    batch_size: int = 32,
    progress: bool = True,
) -> Encoded:
    """Vectors for each strategy over the distinct ``texts``, taken from the cache where possible.

    ``backend`` may be a factory: it is called only when some text is missing from the cache, so a
    warm run never loads the model. Every strategy the backend computes (the requested ones and any
    companions) is stored in its cache namespace, so one forward pass serves a whole sweep.
    ``strategies=None`` means "whatever the backend computes" with no cache.
    """
    check_texts(texts)
    start = time.perf_counter()
    namespaces = dict(namespaces or {})
    distinct = list(dict.fromkeys(texts))
    prefixed = [prefix + t for t in distinct]
    hits: dict[str, dict[int, tuple[np.ndarray, int]]] = {}
    missing: set[int] = set() if strategies is not None else set(range(len(distinct)))
    for name in strategies or ():
        space = namespaces.get(name)
        found, absent = space.lookup(prefixed) if space is not None else ({}, range(len(distinct)))
        hits[name] = found
        missing.update(absent)

    todo = sorted(missing)
    lengths = np.zeros(len(distinct), dtype=np.int64)
    fresh: dict[str, np.ndarray] = {}
    if todo:
        live = _live(backend)
        max_length = live.max_length
        todo_texts = [prefixed[i] for i in todo]

        def sink(rows: np.ndarray, vectors: dict[str, np.ndarray], lengths_: np.ndarray) -> None:
            _store({name: array[rows] for name, array in vectors.items()}, [todo_texts[r] for r in rows],
                   lengths_[rows], namespaces)

        fresh, todo_lengths = forward(todo_texts, live, batch_size=batch_size, progress=progress,
                                      sink=sink if namespaces else None)
        lengths[todo] = todo_lengths
        fresh = {name: fresh[name] for name in strategies or fresh}  # companions are cached; free them

    slot = {i: j for j, i in enumerate(todo)}
    vectors: dict[str, np.ndarray] = {}
    for name in strategies if strategies is not None else fresh:
        rows = []
        for i in range(len(distinct)):
            if i in slot:
                rows.append(fresh[name][slot[i]])
            else:
                vector, lengths[i] = hits[name][i]
                rows.append(vector)
        vectors[name] = np.stack(rows)
    if max_length is None:
        max_length = _live(backend).max_length
    n_truncated = int((lengths > max_length).sum())
    if n_truncated:
        log.warning("%d of %d distinct sentences exceed %d tokens and were truncated.", n_truncated, len(distinct), max_length)
    return Encoded(
        index={t: i for i, t in enumerate(distinct)},
        vectors=vectors,
        n_input=len(texts),
        n_distinct=len(distinct),
        n_truncated=n_truncated,
        n_encoded=len(todo),
        seconds=time.perf_counter() - start,
    )


def _store(fresh: dict[str, np.ndarray], texts: list[str], lengths: np.ndarray,
           namespaces: Mapping[str, CacheNamespace | None]) -> None:
    """Add newly computed vectors to each strategy's namespace (only the texts it lacks)."""
    for name, vectors in fresh.items():
        space = namespaces.get(name)
        if space is None:
            continue
        _, absent = space.lookup(texts)
        if absent:
            space.store([texts[j] for j in absent], vectors[absent], lengths[absent])


def build_backend(resolved, strategies: list[PoolingSpec], device: str, dtype, *, shard: list[str] | None = None,
                  max_memory: int | None = None):
    """The model's backend for these strategies: its sentence-transformers pipeline, or the bare encoder.

    ``shard``: one copy spread over these devices (``encode.shard``, accelerate's ``device_map``); the inputs go to
    the first, where accelerate also returns the outputs. ``max_memory``: the most to take of each device."""
    from bench.models.capacity import check_fits
    from bench.models.loading import load_sentence_transformer, load_transformer
    from bench.models.memory import InMemoryModel

    if isinstance(resolved, InMemoryModel):  # a model object in memory: nothing to load
        from bench.encoding.in_memory import in_memory_backend

        return in_memory_backend(resolved, strategies, device, dtype)
    # before loading: a model too big for the device(s) fails in a second
    spread = check_fits(resolved, shard or [device], dtype, shard=shard is not None, cap=max_memory)
    device = shard[0] if shard else device
    if strategies[0].uses_pipeline:
        return SentenceTransformerBackend(load_sentence_transformer(resolved, device, dtype, max_memory=spread),
                                          strategies[0])
    tokenizer, model, untrained = load_transformer(resolved, device, dtype, max_memory=spread)
    return HiddenStateBackend(tokenizer, model, device, resolved.spec.max_seq_length, strategies, untrained,
                              resolved.spec.name)


def is_decoder(config) -> bool:
    """A decoder-only checkpoint (Qwen2/3, Gemma, Mistral, Llama, ...): its type has a causal-LM head class and
    no masked-LM one (BERT-likes have both)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", None)
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def first_token_strategies(model, strategies: list[PoolingSpec], name: str) -> list[PoolingSpec]:
    """``cls`` on a decoder is refused (asked for) or left out (a companion from encode.precompute): its first
    token is the start token or the first word, not a sentence summary; under causal attention it sees no
    other token."""
    if not is_decoder(model.config) or not any(s.fn == "cls" for s in strategies):
        return strategies
    if strategies[0].fn == "cls":
        raise BenchError(f"model '{name}' is a decoder ({model.config.model_type}): pooling=cls would read its first "
                         f"token, which is not a sentence vector (it sees no other token under causal attention). "
                         f"Use pooling=last_token (decoder embedders: the EOS token), mean, or sbert for the "
                         f"model's own pipeline.")
    log.info("encode.precompute: 'cls' left out for %s, a decoder (its first token is not a sentence vector)", name)
    return [s for s in strategies if s.fn != "cls"]


def check_pooler(model, untrained: frozenset[str], name: str) -> None:
    """``pooling=pooler`` only on a pooler the checkpoint trained: transformers silently initialises a missing
    one with random weights (masked-LM-only checkpoints such as HerBERT's or RoBERTa's have none)."""
    if getattr(model, "pooler", None) is None:
        raise BenchError(f"model '{name}' ({model.__class__.__name__}) has no pooler layer; pooling=pooler needs "
                         f"a BERT-style pooler. Use pooling=cls for the first token's vector.")
    missing = sorted(k for k in untrained if k.split(".")[0] == "pooler" or ".pooler." in f".{k}")
    if missing:
        raise BenchError(f"model '{name}' has no trained pooler: its checkpoint lacks {', '.join(missing)}, so "
                         f"transformers would fill the layer with random weights. Use pooling=cls (the same "
                         f"position without the untrained layer) or another strategy.")


def encode_by_prompt(texts_by_prompt: Mapping[str, list[str]], resolved, strategies: list[PoolingSpec], *,
                     cache, device: str, dtype: torch.dtype, batch_size: int, progress: bool,
                     devices: list[str] | None = None, runtime=None, export_root=None,
                     threads: int | None = None, streams: int | None = None, shard: bool = False,
                     max_memory: int | None = None) -> dict[str, Encoded]:
    """Every text under its prompt, one deduplicated pass per prompt; the model is loaded once for all of
    them, and not at all when the cache holds every vector. The first strategy is the one asked for; the
    others are companions computed from the same forward pass and cached. ``devices``: one process per
    device (bench.encoding.parallel), the same vectors; with ``shard``, one copy spread over them (or over ``device``)
    instead, the same vectors again. ``max_memory``: the most bytes to take of each device. ``runtime`` (a :class:`bench.encoding.backends.BackendSpec`) runs the
    encoder under ONNX Runtime or OpenVINO instead of PyTorch."""
    import functools

    dtype_name = str(dtype).removeprefix("torch.")
    if runtime is not None and runtime.exported:
        from bench.encoding.backends import build_exported_backend

        backend = functools.cache(lambda: build_exported_backend(resolved, strategies, runtime, export_root, threads,
                                                                          streams))
    elif shard:
        backend = functools.cache(lambda: build_backend(resolved, strategies, device, dtype, shard=devices or [device],
                                                        max_memory=max_memory))
    elif devices:
        from bench.encoding.parallel import ParallelBackend

        backend = functools.cache(lambda: ParallelBackend(resolved, strategies, devices, dtype, threads, max_memory))
    else:
        backend = functools.cache(lambda: build_backend(resolved, strategies, device, dtype, max_memory=max_memory))
    extra = runtime.identity() if runtime is not None else {}  # empty for plain PyTorch: the keys stay as they were
    out = {}
    for prompt, texts in texts_by_prompt.items():
        namespaces = {s.slug: cache.namespace({**resolved.cache_key(s.as_dict(), dtype_name, prompt), **extra})
                      for s in strategies}
        out[prompt] = encoded = encode_distinct(
            texts, backend, strategies=[strategies[0].slug], namespaces=namespaces,
            max_length=resolved.spec.max_seq_length or NO_LIMIT, prefix=prompt, batch_size=batch_size, progress=progress)
        log.info("%s%d distinct of %d sentences: %d encoded in %.1fs, %d from the cache (%d truncated)",
                 f"prompt {prompt!r}: " if prompt else "", encoded.n_distinct, encoded.n_input, encoded.n_encoded,
                 encoded.seconds, encoded.n_distinct - encoded.n_encoded, encoded.n_truncated)
    return out
