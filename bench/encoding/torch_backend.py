"""The model run by PyTorch in this process: a bare encoder whose hidden states bench pools (:class:`HiddenStateBackend`),
or the model's own sentence-transformers pipeline (:class:`SentenceTransformerBackend`), and the checks of which
strategies a model can give (a trained pooler, a decoder's first token)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from bench.encoding.pooling import PoolingSpec, check_layers, pool_many
from bench.errors import BenchError

log = logging.getLogger(__name__)

#: The length limit of a model that never truncates (static embeddings, ``model.max_seq_length: null``).
NO_LIMIT = 2**62


def count_tokens(tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Each text's token count with the special tokens and without truncation: the length sort's key and what
    counts a text as truncated."""
    ids = tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))


class HiddenStateBackend:
    """A bare transformer encoder pooled by one or more :class:`PoolingSpec` strategies."""

    def __init__(self, tokenizer, model, device: str, max_length: int, strategies: Sequence[PoolingSpec],
                 untrained: frozenset[str] = frozenset(), name: str = "the model"):
        self.tokenizer, self.model, self.device = tokenizer, model, device
        self.max_length = max_length
        self.strategies = usable_strategies(strategies, model.config, name, lambda: check_pooler(model, untrained, name))

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return count_tokens(self.tokenizer, texts)

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
        if not isinstance(tokenizer, Tokenizer):
            return count_tokens(tokenizer, texts)
        # a static embedding's own tokenizer, as it encodes (no special tokens)
        ids = [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        vectors = self.model.encode(
            list(texts), batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False,
            normalize_embeddings=self.strategy.normalize,
        )
        return {self.strategy.slug: vectors.astype(np.float32, copy=False)}


def is_decoder(config) -> bool:
    """A decoder-only checkpoint (Qwen2/3, Gemma, Mistral, Llama, ...): its type has a causal-LM head class and
    no masked-LM one (BERT-likes have both)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", None)
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def usable_strategies(strategies: Sequence[PoolingSpec], config, name: str,
                      check_head: Callable[[], None] | None = None) -> list[PoolingSpec]:
    """The strategies a bare encoder with this ``config`` can give, the asked one (first) refused with the reason
    and a companion (``encode.precompute``) left out: the pooler only where ``check_head()`` passes (it raises when
    the model has none, or an untrained one; needed only when a strategy reads it), no ``cls`` on a decoder, no layer
    the model lacks."""
    if any(s.uses_pipeline for s in strategies):
        raise BenchError("the sbert strategy needs the sentence-transformers backend, not hidden states.")
    strategies = list(strategies)
    if strategies and strategies[0].uses_head:  # the strategy asked for: refused without a trained pooler
        check_head()
    elif any(s.uses_head for s in strategies):  # only a companion (encode.precompute): left out instead
        try:
            check_head()
        except BenchError as error:
            log.info("encode.precompute: 'pooler' left out for %s (%s)", name, error)
            strategies = [s for s in strategies if not s.uses_head]
    strategies = first_token_strategies(config, strategies, name)
    layers = getattr(config, "num_hidden_layers", None)
    if isinstance(layers, int):  # a layer the model lacks fails now, not in the first batch
        for strategy in strategies:
            check_layers(strategy.layers, layers + 1)
    return strategies


def first_token_strategies(config, strategies: list[PoolingSpec], name: str) -> list[PoolingSpec]:
    """``cls`` on a decoder is refused (asked for) or left out (a companion from encode.precompute): its first
    token is the start token or the first word, not a sentence summary; under causal attention it sees no
    other token."""
    if not is_decoder(config) or not any(s.fn == "cls" for s in strategies):
        return strategies
    if strategies[0].fn == "cls":
        raise BenchError(f"model '{name}' is a decoder ({config.model_type}): pooling=cls would read its first "
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
