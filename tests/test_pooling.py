"""Each strategy against values computed by hand; padding never counts."""

import pytest
import torch

from bench.encoding.pooling import cls_pool, max_pool, mean_max_pool, mean_pool, pool, select_layers
from bench.errors import BenchError

# batch of 2, 3 tokens, dim 2; the second sentence has one padding token holding large values
HIDDEN = torch.tensor(
    [
        [[1.0, 2.0], [3.0, -4.0], [5.0, 0.0]],
        [[-1.0, 1.0], [2.0, 3.0], [100.0, 100.0]],
    ]
)
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def test_cls_takes_first_token():
    assert cls_pool(HIDDEN, MASK).tolist() == [[1.0, 2.0], [-1.0, 1.0]]


def test_mean_ignores_padding():
    expected = torch.tensor([[3.0, -2.0 / 3.0], [0.5, 2.0]])
    assert torch.allclose(mean_pool(HIDDEN, MASK), expected)


def test_max_ignores_padding_and_keeps_input():
    before = HIDDEN.clone()
    assert max_pool(HIDDEN, MASK).tolist() == [[5.0, 2.0], [2.0, 3.0]]
    assert torch.equal(HIDDEN, before)


def test_max_with_all_negative_values():
    hidden = torch.tensor([[[-5.0], [-3.0], [0.0]]])
    assert max_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[-3.0]]


def test_mean_max_concatenates():
    out = mean_max_pool(HIDDEN, MASK)
    assert out.shape == (2, 4)
    assert out[1].tolist() == [0.5, 2.0, 2.0, 3.0]


def test_layer_selection_averages_tokenwise():
    layers = (torch.zeros(1, 2, 1), torch.ones(1, 2, 1) * 2, torch.ones(1, 2, 1) * 4)
    assert select_layers(layers, [-1]).flatten().tolist() == [4.0, 4.0]
    assert select_layers(layers, [1, -1]).flatten().tolist() == [3.0, 3.0]  # first_last_avg: (2 + 4) / 2
    assert select_layers(layers, [0, 1, 2]).flatten().tolist() == [2.0, 2.0]


def test_pool_combines_layers_then_pools():
    layers = (HIDDEN * 0, HIDDEN)
    expected = torch.tensor([[1.5, -1.0 / 3.0], [0.25, 1.0]])
    assert torch.allclose(pool(layers, MASK, "mean", [0, 1]), expected)


@pytest.mark.parametrize("layers", [[3], [-4], []])
def test_bad_layers_name_the_valid_range(layers):
    with pytest.raises(BenchError, match="pooling.layers"):
        select_layers((HIDDEN, HIDDEN, HIDDEN), layers)


def test_unknown_pooling_lists_choices():
    with pytest.raises(BenchError, match="Did you mean 'mean'.*cls, first_last_avg|cls.*mean"):
        pool((HIDDEN,), MASK, "maen", [-1])


def test_pool_many_equals_separate_pooling():
    from bench.encoding.pooling import pool_many

    layers = (HIDDEN * 0.5, HIDDEN, HIDDEN * 2)
    requests = [("mean_max", (-1,)), ("mean", (-1,)), ("max", (-1,)), ("cls", (0, -1)), ("mean", (1, -1))]
    shared = pool_many(layers, MASK, requests)
    for name, chosen in requests:
        assert torch.allclose(shared[(name, chosen)], pool(layers, MASK, name, list(chosen)))


# ------------------------------------------------------------------ last_token: decoder embedders


def test_last_token_takes_the_last_kept_token_with_either_padding_side():
    from bench.encoding.pooling import last_token_pool

    assert last_token_pool(HIDDEN, MASK).tolist() == [[5.0, 0.0], [2.0, 3.0]]  # right padding
    left = torch.tensor([[[9.0, 9.0], [-1.0, 1.0], [2.0, 3.0]]])
    assert last_token_pool(left, torch.tensor([[0, 1, 1]])).tolist() == [[2.0, 3.0]]  # left padding: the end


@pytest.fixture(scope="module")
def tiny_decoder(tiny_model):
    """A tiny Qwen3 with Qwen3-Embedding's tokenizer and last-token sentence-transformers pipeline."""
    return tiny_model("qwen3")


@pytest.mark.parametrize("side", ["right", "left"])
def test_last_token_equals_sentence_transformers_lasttoken(tiny_decoder, side):
    from sentence_transformers import SentenceTransformer

    from bench.encoding.pooling import PoolingSpec
    from bench.encoding.torch_backend import HiddenStateBackend
    from bench.models.loading import load_transformer, resolve
    from bench.models.spec import ModelSpec
    from tests.conftest import CORPUS

    theirs = SentenceTransformer(str(tiny_decoder), device="cpu")
    theirs.tokenizer.padding_side = side
    resolved = resolve(ModelSpec.from_config({"name_or_path": str(tiny_decoder), "max_seq_length": 64}))
    tokenizer, model, untrained = load_transformer(resolved, "cpu")
    tokenizer.padding_side = side
    backend = HiddenStateBackend(tokenizer, model, "cpu", 64, [PoolingSpec("last_token", "last_token")])
    texts = [CORPUS[0], CORPUS[5], CORPUS[1]]  # different lengths: padded in one batch
    ours = backend.embed_batch(texts)["last_token"]
    expected = theirs.encode(texts, batch_size=3, convert_to_numpy=True)
    assert ours.shape == expected.shape and abs(ours - expected).max() < 1e-6
    assert tokenizer(CORPUS[0])["input_ids"][-1] == tokenizer.pad_token_id  # read at the appended <|endoftext|>


def test_decoders_refuse_cls_and_drop_it_as_a_companion(tiny_decoder, caplog):
    from bench.encoding.pooling import PoolingSpec
    from bench.encoding.torch_backend import HiddenStateBackend
    from bench.models.loading import load_transformer, resolve
    from bench.models.spec import ModelSpec

    resolved = resolve(ModelSpec.from_config({"name": "qwen", "name_or_path": str(tiny_decoder), "max_seq_length": 64}))
    tokenizer, model, _ = load_transformer(resolved, "cpu")
    with pytest.raises(BenchError, match=r"model 'qwen' is a decoder \(qwen3\): pooling=cls .*pooling=last_token"):
        HiddenStateBackend(tokenizer, model, "cpu", 64, [PoolingSpec("cls", "cls")], name="qwen")
    backend = HiddenStateBackend(tokenizer, model, "cpu", 64, [PoolingSpec("last_token", "last_token"),
                                                               PoolingSpec("cls", "cls"), PoolingSpec("mean", "mean")])
    assert [s.name for s in backend.strategies] == ["last_token", "mean"]
