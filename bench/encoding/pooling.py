"""Embedding strategies: small pure functions over a transformer's hidden states.

Every strategy has the signature ``(hidden, mask) -> embeddings`` where ``hidden`` is a
``(batch, tokens, dim)`` tensor and ``mask`` the ``(batch, tokens)`` attention mask. Padding
never contributes. Layer selection happens before pooling (:func:`select_layers`): the chosen
hidden-state tensors are averaged token-wise, then pooled. Index 0 of ``hidden_states`` is the
embedding-layer output, index ``i >= 1`` the output of transformer layer ``i``, and ``-1`` the
last layer (the usual ``last_hidden_state``).

``sbert`` is not listed here: it delegates to the model's own sentence-transformers pipeline
(see :mod:`bench.models`). Neither is ``pooler``: BERT's ``pooler_output`` (``tanh(W h_[CLS] + b)``,
trained with next-sentence prediction) is a head of the model, read from its output, and refused when the
checkpoint has no trained pooler weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from bench.errors import BenchError, unknown_choice

PoolFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cls_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The first token's vector ([CLS] for BERT, <s> for RoBERTa/XLM-R)."""
    return hidden[:, 0]


def last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last kept token's vector, as sentence-transformers' ``lasttoken`` pooling: the position of the
    last 1 in the mask, so right padding (the last non-padding token) and left padding (the final position)
    give the same vector. Decoder embedders (Qwen3-Embedding, gte-Qwen2) read it at the EOS token their
    tokenizer appends: under causal attention it is the only position that has seen the whole sentence."""
    seq_len = mask.shape[1]
    found, from_end = mask.flip(1).max(dim=1)
    last = torch.where(found == 0, seq_len - 1, seq_len - 1 - from_end)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors that the attention mask keeps (as sentence-transformers does)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    counts = weights.sum(dim=1).clamp(min=1e-9)
    return summed / counts


def max_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over the kept tokens; padding is excluded, the input is not modified."""
    keep = mask.unsqueeze(-1).bool()
    filled = torch.where(keep, hidden, torch.finfo(hidden.dtype).min)
    return filled.max(dim=1).values


def mean_max_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Concatenation ``[mean; max]`` (twice the hidden size)."""
    return torch.cat([mean_pool(hidden, mask), max_pool(hidden, mask)], dim=-1)


POOLERS: dict[str, PoolFn] = {
    "cls": cls_pool,
    "mean": mean_pool,
    "max": max_pool,
    "mean_max": mean_max_pool,
    "last_token": last_token_pool,
}
#: Strategies that are concatenations of others: computed from their parts when those are at hand.
COMPOSITES: dict[str, tuple[str, ...]] = {"mean_max": ("mean", "max")}
#: Strategies read from a head of the bare encoder instead of pooled hidden states.
HEAD_STRATEGIES = ("pooler",)
#: Strategies that bypass hidden-state pooling and run the model's own pipeline.
PIPELINE_STRATEGIES = ("sbert",)
STRATEGIES = (*POOLERS, *HEAD_STRATEGIES, *PIPELINE_STRATEGIES)


def get_pooler(name: str) -> PoolFn:
    """Look up a pooling function by name, with a clear error for unknown names."""
    if name not in POOLERS:
        raise unknown_choice("pooling", name, STRATEGIES)
    return POOLERS[name]


def check_layers(layers: Sequence[int], n: int) -> None:
    """Layer indices must exist among a model's ``n`` hidden states (checked when the model loads)."""
    if not layers:
        raise BenchError("pooling.layers must name at least one hidden layer, e.g. [-1].")
    for index in layers:
        if not -n <= index < n:
            raise BenchError(
                f"pooling.layers has {index}, but the model has {n} hidden states "
                f"(valid indices: {-n}..{n - 1}; 0 is the embedding layer, -1 the last layer)."
            )


def select_layers(hidden_states: Sequence[torch.Tensor], layers: Sequence[int]) -> torch.Tensor:
    """Average the chosen hidden-state tensors token-wise.

    ``hidden_states`` is the tuple returned with ``output_hidden_states=True`` (length
    ``num_layers + 1``). Indices follow Python semantics, so ``-1`` is the last layer.
    """
    check_layers(layers, len(hidden_states))
    if len(layers) == 1:
        return hidden_states[layers[0]]
    return torch.stack([hidden_states[i] for i in layers]).mean(dim=0)


def pool(hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, name: str, layers: Sequence[int]) -> torch.Tensor:
    """Apply one strategy (``name`` over the average of ``layers``) to one batch."""
    return get_pooler(name)(select_layers(hidden_states, layers), mask)


def pool_many(hidden_states: Sequence[torch.Tensor], mask: torch.Tensor,
              requests: Sequence[tuple[str, tuple[int, ...]]]) -> dict[tuple[str, tuple[int, ...]], torch.Tensor]:
    """Several strategies on one batch, sharing work: each layer choice is averaged once, each
    (function, layers) pooled once, and composites (``mean_max``) concatenate their parts."""
    selected: dict[tuple[int, ...], torch.Tensor] = {}
    pooled: dict[tuple[str, tuple[int, ...]], torch.Tensor] = {}

    def one(name: str, layers: tuple[int, ...]) -> torch.Tensor:
        key = (name, layers)
        if key not in pooled:
            if name in COMPOSITES:
                pooled[key] = torch.cat([one(part, layers) for part in COMPOSITES[name]], dim=-1)
            else:
                if layers not in selected:
                    selected[layers] = select_layers(hidden_states, layers)
                pooled[key] = get_pooler(name)(selected[layers], mask)
        return pooled[key]

    return {(name, tuple(layers)): one(name, tuple(layers)) for name, layers in requests}


@dataclass(frozen=True)
class PoolingSpec:
    """One embedding strategy: a pooling function over the average of ``layers``.

    ``name`` labels the strategy in results (``first_last_avg`` is ``fn: mean`` over layers
    ``[1, -1]``); ``fn`` is ``cls``, ``mean``, ``max``, ``mean_max`` or ``sbert``.
    """

    name: str
    fn: str
    layers: tuple[int, ...] = (-1,)
    normalize: bool = False

    def __post_init__(self) -> None:
        if self.fn not in (*PIPELINE_STRATEGIES, *HEAD_STRATEGIES):
            get_pooler(self.fn)  # raises with the valid names
        elif self.layers != (-1,):
            what = ("runs the model's own sentence-transformers pipeline" if self.fn in PIPELINE_STRATEGIES
                    else "reads the model's pooler layer over the last layer's first token")
            raise BenchError(f"pooling.layers={list(self.layers)} does not apply to '{self.fn}', which {what}; "
                             f"use one of {', '.join(POOLERS)} for a layer choice.")

    @classmethod
    def from_config(cls, cfg: DictConfig | dict) -> PoolingSpec:
        c = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        fn = str(c.get("fn") or c.get("name"))
        layers = c.get("layers", list(cls.layers))
        if isinstance(layers, int):
            layers = [layers]
        if not isinstance(layers, list) or not all(isinstance(x, int) for x in layers):
            raise BenchError(f"pooling.layers must be a list of integers, e.g. [-1] or [-4,-3,-2,-1]; got {layers!r}.")
        if not layers:
            raise BenchError("pooling.layers must name at least one hidden layer, e.g. [-1].")
        return cls(name=str(c.get("name") or fn), fn=fn, layers=tuple(layers), normalize=bool(c.get("normalize", cls.normalize)))

    @property
    def uses_pipeline(self) -> bool:
        return self.fn in PIPELINE_STRATEGIES

    @property
    def uses_head(self) -> bool:
        return self.fn in HEAD_STRATEGIES

    @property
    def slug(self) -> str:
        """Folder name for results: the name, plus non-default layer choice and normalisation."""
        slug = self.name
        if self.layers != (-1,):
            slug += "-layers_" + "_".join(str(i) for i in self.layers)
        if self.normalize:
            slug += "-norm"
        return slug

    def as_dict(self) -> dict:
        return {"name": self.name, "fn": self.fn, "layers": list(self.layers), "normalize": self.normalize}
