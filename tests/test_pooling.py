"""Each strategy against values computed by hand; padding never counts."""

import pytest
import torch

from bench.errors import BenchError
from bench.pooling import cls_pool, max_pool, mean_max_pool, mean_pool, pool, select_layers

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
    from bench.pooling import pool_many

    layers = (HIDDEN * 0.5, HIDDEN, HIDDEN * 2)
    requests = [("mean_max", (-1,)), ("mean", (-1,)), ("max", (-1,)), ("cls", (0, -1)), ("mean", (1, -1))]
    shared = pool_many(layers, MASK, requests)
    for name, chosen in requests:
        assert torch.allclose(shared[(name, chosen)], pool(layers, MASK, name, list(chosen)))
