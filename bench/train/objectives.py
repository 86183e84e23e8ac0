"""Losses by name, and the optional Matryoshka wrapper (all from sentence-transformers)."""

from __future__ import annotations

from bench.errors import BenchError, unknown_choice

LOSSES = ("cosent", "cosine", "angle", "softmax", "mnrl", "simcse", "mlm")
#: Losses that read no labels (a stage of continued pretraining); ``mlm`` trains the masked-LM head, not sentence vectors.
UNSUPERVISED = ("simcse", "mlm")


def build_loss(name: str, model, matryoshka_dims: list[int] | None = None, num_labels: int = 3):
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # 3.x - 5.x
        from sentence_transformers import losses

    if name not in LOSSES or name == "mlm":  # mlm is a transformers masked-LM stage (bench.train.mlm)
        raise unknown_choice("loss", name, [x for x in LOSSES if x != "mlm"])
    if name == "cosent":
        loss = losses.CoSENTLoss(model)
    elif name == "cosine":
        loss = losses.CosineSimilarityLoss(model)
    elif name == "angle":
        loss = losses.AnglELoss(model)
    elif name == "softmax":
        loss = losses.SoftmaxLoss(model, sentence_embedding_dimension=embedding_dim(model), num_labels=num_labels)
    else:  # mnrl, and simcse: each sentence its own positive, dropout the noise (Gao et al. 2021)
        loss = losses.MultipleNegativesRankingLoss(model)
    if matryoshka_dims:
        if name == "softmax":
            raise BenchError("Matryoshka training does not apply to SoftmaxLoss (its classifier has a fixed width).")
        too_wide = [d for d in matryoshka_dims if d > embedding_dim(model)]
        if too_wide:
            raise BenchError(f"matryoshka dims {too_wide} exceed the embedding size {embedding_dim(model)}.")
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=list(matryoshka_dims))
    return loss


def embedding_dim(model) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())
