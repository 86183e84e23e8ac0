"""Compression: transforms, quantisation round trips, and fitting on train only (never test)."""

import numpy as np
import pytest
import torch

from bench.encoding.build import build_backend
from bench.encoding.compress import PCA, CompressionSpec, Compressor
from bench.encoding.encode import encode_distinct
from bench.encoding.pooling import PoolingSpec
from bench.errors import BenchError
from bench.models.loading import resolve
from bench.models.spec import ModelSpec
from bench.run import run
from tests.helpers import CORPUS, tiny_overrides, write_cdscorpus

RNG = np.random.default_rng(0)
FIT = RNG.normal(size=(200, 16)).astype(np.float32) * np.linspace(3, 0.1, 16, dtype=np.float32)
TEST = RNG.normal(size=(20, 16)).astype(np.float32)


def test_int8_round_trip_is_within_half_a_step():
    comp = CompressionSpec("int8").build().fit(FIT)
    codes = comp.transform(FIT)
    assert codes.dtype == np.int8 and codes.shape == FIT.shape
    step = (FIT.max(axis=0) - FIT.min(axis=0)) / 255
    assert np.all(np.abs(comp.scoring_view(codes, 16) - FIT) <= step / 2 + 1e-5)


def test_int8_codes_by_hand():
    """Range [0, 255] per dimension: bucket = floor(x), clipped to [0, 255], minus 128 (sentence-transformers'
    definition in its recent releases; computed by bench so that the numbers do not change with its version)."""
    comp = CompressionSpec("int8").build().fit(np.array([[0.0, 0.0, 0.0], [255.0, 255.0, 255.0]], np.float32))
    codes = comp.transform(np.array([[10.7, -5.0, 300.0], [127.99, 128.0, 254.5]], np.float32))
    assert codes.tolist() == [[-118, -128, 127], [-1, 0, 126]]
    np.testing.assert_allclose(comp.scoring_view(codes, 3), [[10.5, 0.5, 255.5], [127.5, 128.5, 254.5]])


def test_int8_clips_values_outside_the_calibration_range():
    comp = CompressionSpec("int8").build().fit(FIT)
    codes = comp.transform(np.vstack([FIT.max(axis=0) * 10, FIT.min(axis=0) * 10]))
    assert codes[0].tolist() == [127] * 16 and codes[1].tolist() == [-128] * 16


def test_binary_round_trip_keeps_signs():
    comp = CompressionSpec("binary").build().fit(FIT)
    packed = comp.transform(TEST)
    assert packed.dtype == np.uint8 and packed.shape == (20, 2)
    np.testing.assert_array_equal(comp.scoring_view(packed, 16), np.where(TEST > 0, 1.0, -1.0))


def test_truncate_keeps_leading_dims():
    comp = CompressionSpec("truncate", dims=5).build().fit(FIT[:0])
    np.testing.assert_array_equal(comp.transform(TEST), TEST[:, :5])


def test_whitening_gives_identity_covariance_on_fit_data():
    comp = CompressionSpec("whitening", dims=8).build().fit(FIT)
    out = comp.transform(FIT)
    assert out.shape == (200, 8)
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.eye(8), atol=1e-4)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)


def test_pca_keeps_the_top_variance_directions():
    out = CompressionSpec("pca", dims=2).build().fit(FIT).transform(FIT)
    assert out.var(axis=0)[0] >= out.var(axis=0)[1] > FIT.var(axis=0)[2] * 0.9


def test_bytes_per_vector():
    assert CompressionSpec("none").build().describe(384)["bytes_per_vector"] == 1536
    assert CompressionSpec("pca", dims=128).build().describe(384)["bytes_per_vector"] == 512
    assert CompressionSpec("int8").build().describe(384)["bytes_per_vector"] == 384
    assert CompressionSpec("binary").build().describe(384)["bytes_per_vector"] == 48
    assert CompressionSpec("binary").build().describe(20)["bytes_per_vector"] == 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [(dict(method="pca"), "needs compression.dims"), (dict(method="int8", dims=8), "does not apply"),
     (dict(method="pca", dims=8, fit_split="test"), "would fit on the evaluated data"),
     (dict(method="zip"), "Unknown compression 'zip'")],
)
def test_bad_specs(spec, message):
    with pytest.raises(BenchError, match=message):
        CompressionSpec(**spec)


def test_dims_larger_than_embedding():
    with pytest.raises(BenchError, match="exceeds the embedding size 16"):
        CompressionSpec("pca", dims=32).build().fit(FIT)


@pytest.fixture
def split_data_root(tmp_path):
    """Train, validation and test hold different sentences, so a leak would be visible."""
    train = [(i, f"{CORPUS[i % 6]} trening {i}", f"{CORPUS[(i + 1) % 6]} zbiór {i}", i % 6, "NEUTRAL") for i in range(12)]
    test = [(i, f"TEST {i} {CORPUS[i % 6]}", f"TEST {i} inne", i % 6, "ENTAILMENT" if i % 2 else "NEUTRAL")
            for i in range(8)]
    return write_cdscorpus(tmp_path / "data", train=train, trial=train[:4], test=test)


def test_compression_is_fitted_on_train_only(make_cfg, tiny_models, split_data_root, monkeypatch):
    seen = []
    original_fit = PCA.fit

    def spy(self, vectors):
        seen.append(np.array(vectors))
        return original_fit(self, vectors)

    monkeypatch.setattr(PCA, "fit", spy)
    cfg = make_cfg(*tiny_overrides(tiny_models["bert"], split_data_root), "pooling=mean", "compression=pca",
                   "compression.dims=4")
    (record,) = run(cfg)
    (fit_matrix,) = seen
    assert fit_matrix.shape == (24, 32)  # the 24 distinct train sentences
    # every fitted row is a train sentence's vector, and no test sentence's vector is among them
    encoded = encode_distinct(
        [f"TEST {i} {CORPUS[i % 6]}" for i in range(8)] + [f"TEST {i} inne" for i in range(8)],
        build_backend(resolve(ModelSpec.from_config(cfg.model)), [PoolingSpec("mean", "mean")], "cpu", torch.float32),
        progress=False,
    ).vectors["mean"]
    distances = np.linalg.norm(fit_matrix[:, None, :] - encoded[None, :, :], axis=-1)
    assert distances.min() > 1e-3
    meta = record["bench"]
    assert meta["compression"]["fit"]["split"] == "train" and meta["compression"]["fit"]["sentences"] == 24
    assert meta["compression"]["bytes_per_vector"] == 16 and meta["strategy"] == "mean+pca4"


@pytest.mark.parametrize(("model", "pooling", "dims", "size"), [
    ("bert", "mean", 33, 32), ("bert", "mean_max", 65, 64), ("bert", "mean_max", 64, None),
    ("sbert", "sbert", 33, 32), ("embedded", "sbert", 385, 384), ("embedded", "cls", 384, None)])
def test_dims_beyond_the_vector_size_fail_before_encoding(make_cfg, tiny_models, tiny_sbert, split_data_root, tmp_path,
                                                         model, pooling, dims, size):
    """The size is read from the model's config files (hidden size, mean_max's two halves, the pipeline's Pooling
    module): dims beyond it fail at once, with no model loaded and nothing cached; dims within it run."""
    path = {"bert": f"model.name_or_path={tiny_models['bert']}", "sbert": f"model.name_or_path={tiny_sbert}",
            "embedded": None}[model]
    models = ["model=hf", path] if path else ["model=minilm"]
    cfg = make_cfg(*models, "model.max_seq_length=64", "task=cdsc_r", "data.check_rows=false",
                   f"data.root={split_data_root}", f"pooling={pooling}", "compression=truncate",
                   f"compression.dims={dims}", "stats.bootstrap=0")
    if size is None:
        (record,) = run(cfg)
        assert record["bench"]["compression"]["dims"] == dims
        return
    with pytest.raises(BenchError, match=rf"compression.dims={dims} exceeds the embedding size {size} \(model "):
        run(cfg)
    assert not any((tmp_path / "cache").rglob("*.safetensors")) and not any((tmp_path / "results").rglob("*.json"))


def _pipeline(folder, *modules):
    import json

    listing = []
    for i, (kind, config) in enumerate(modules):
        path = "" if kind == "Transformer" else f"{i}_{kind}"
        (folder / path).mkdir(parents=True, exist_ok=True)
        (folder / path / "config.json").write_text(json.dumps(config))
        listing.append({"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"})
    (folder / "modules.json").write_text(json.dumps(listing))
    return folder


def test_vector_size_from_the_config_files(tmp_path):
    from bench.models.weights import vector_size

    encoder = ("Transformer", {"hidden_size": 48})
    old_pooling = ("Pooling", {"word_embedding_dimension": 48, "pooling_mode_cls_token": True,
                               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False})
    assert vector_size(_pipeline(tmp_path / "a", encoder, old_pooling), pipeline=True) == 96
    assert vector_size(tmp_path / "a", pipeline=False) == 48 and vector_size(tmp_path / "a", False, parts=2) == 96
    dense = ("Dense", {"in_features": 96, "out_features": 16})
    assert vector_size(_pipeline(tmp_path / "b", encoder, old_pooling, dense, ("Normalize", {})), pipeline=True) == 16
    new_pooling = ("Pooling", {"embedding_dimension": 48, "pooling_mode": ["mean", "max", "cls"]})
    assert vector_size(_pipeline(tmp_path / "c", encoder, new_pooling), pipeline=True) == 144
    # what bench cannot be sure of is left to the check on the vectors themselves
    assert vector_size(_pipeline(tmp_path / "d", encoder, old_pooling, ("LSTM", {})), pipeline=True) is None
    assert vector_size(_pipeline(tmp_path / "e", encoder, ("Pooling", {"pooling_mode": "mean"})), pipeline=True) is None
    assert vector_size(_pipeline(tmp_path / "f", ("Transformer", {})), pipeline=False) is None


def test_fit_task_must_be_in_the_run(make_cfg, tiny_models, split_data_root):
    cfg = make_cfg("model=hf", f"model.name_or_path={tiny_models['bert']}", "task=cdsc_r", "data.check_rows=false",
                   f"data.root={split_data_root}", "compression=int8", "compression.fit_task=stsb_multi_mt")
    with pytest.raises(BenchError, match="fit_task=stsb_multi_mt is not among this run's tasks"):
        run(cfg)


class Halved(Compressor):
    """A compressor of one's own, named by _target_: halves every vector (cosine cannot see it)."""

    method = "halved"

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors, dtype=np.float32) / 2


def test_a_compressor_class_of_ones_own_through_target(make_cfg, tiny_models, split_data_root):
    base = (*tiny_overrides(tiny_models["bert"], split_data_root), "pooling=mean", "stats.bootstrap=0")
    spec = CompressionSpec.from_config(make_cfg(*base, "compression._target_=tests.test_compress.Halved").compression)
    assert spec.method == "halved" and spec.identity["target"] == "tests.test_compress.Halved"
    assert "target" not in CompressionSpec.from_config(make_cfg(*base, "compression=pca").compression).identity
    (plain,) = run(make_cfg(*base))
    (halved,) = run(make_cfg(*base, "compression._target_=tests.test_compress.Halved"))
    assert halved["bench"]["strategy"] == "mean+halved" and halved["bench"]["compression"]["method"] == "halved"
    scores = halved["scores"]["test"][0]
    assert scores["cosine_spearman"] == pytest.approx(plain["scores"]["test"][0]["cosine_spearman"], abs=1e-6)
    assert scores["euclidean_spearman"] == pytest.approx(plain["scores"]["test"][0]["euclidean_spearman"], abs=1e-6)


class NoDims(Compressor):
    """A compressor whose constructor takes no ``dims``: bench could not build it."""

    method = "nodims"

    def __init__(self):
        super().__init__()


def test_a_target_that_is_no_compressor_is_refused(make_cfg):
    with pytest.raises(BenchError, match=r"_target_=tests.test_compress.NoDims: its __init__ must accept the keyword 'dims'"):
        CompressionSpec.from_config(make_cfg("compression._target_=tests.test_compress.NoDims").compression)
    with pytest.raises(BenchError, match=r"compression._target_=collections.OrderedDict is not a bench.encoding.compress.Compressor"):
        CompressionSpec.from_config(make_cfg("compression._target_=collections.OrderedDict").compression)
    with pytest.raises(BenchError, match=r"compression._target_=bench.nothing.Here cannot be imported.*bench.encoding.compress.PCA"):
        CompressionSpec.from_config(make_cfg("compression._target_=bench.nothing.Here").compression)
