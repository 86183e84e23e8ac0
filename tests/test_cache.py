"""The embedding cache: keys, corruption, warm runs that never load the model, shared forward passes."""

import logging

import numpy as np
import pytest

from bench.encoding.cache import EmbeddingCache, main, namespace_id
from bench.encoding.encode import encode_distinct
from bench.run import run
from tests.helpers import tiny_overrides

BASE_KEY = {"model": "org/m", "revision": "abc", "weights_sha256": "w", "files_sha256": "t", "max_length": 128,
            "prompt": "", "strategy": {"name": "mean", "fn": "mean", "layers": [-1], "normalize": False},
            "dtype": "float32"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("model", "org/other"), ("revision", "def"), ("weights_sha256", "w2"), ("files_sha256", "t2"),
     ("max_length", 64), ("prompt", "query: "), ("dtype", "float16"),
     ("strategy", {"name": "mean", "fn": "mean", "layers": [-2], "normalize": False}),
     ("strategy", {"name": "cls", "fn": "cls", "layers": [-1], "normalize": False}),
     ("strategy", {"name": "mean", "fn": "mean", "layers": [-1], "normalize": True})],
)
def test_every_part_of_the_key_changes_the_entry(field, value):
    assert namespace_id({**BASE_KEY, field: value}) != namespace_id(BASE_KEY)
    assert namespace_id(dict(reversed(list(BASE_KEY.items())))) == namespace_id(BASE_KEY)


def test_text_is_part_of_the_key(tmp_path):
    space = EmbeddingCache(tmp_path).namespace(BASE_KEY)
    space.store(["ala ma kota"], np.ones((1, 3)), np.array([5]))
    found, missing = space.lookup(["ala ma kota", "Ala ma kota"])
    assert missing == [1] and found[0][1] == 5 and found[0][0].tolist() == [1.0, 1.0, 1.0]


def test_round_trip_across_instances(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    EmbeddingCache(tmp_path).namespace(BASE_KEY).store(["a", "b", "c"], vectors, np.array([1, 2, 3]))
    found, missing = EmbeddingCache(tmp_path).namespace(BASE_KEY).lookup(["c", "a", "z"])
    assert missing == [2]
    np.testing.assert_array_equal(found[0][0], vectors[2])
    assert (found[1][1], found[0][1]) == (1, 3)


def _one_shard(tmp_path):
    space = EmbeddingCache(tmp_path).namespace(BASE_KEY)
    path = space.store(["a", "b"], np.arange(8, dtype=np.float32).reshape(2, 4), np.array([1, 1]))
    return path


@pytest.mark.parametrize("damage", ["truncate", "flip_vector_byte", "garbage"])
def test_corrupt_entry_is_detected_deleted_and_never_used(tmp_path, caplog, damage):
    path = _one_shard(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 7]
    elif damage == "flip_vector_byte":
        data[-20] ^= 0xFF  # inside the tensor bytes: the file still parses, the checksum does not match
    else:
        data = b"not a safetensors file at all"
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="bench.encoding.cache"):
        found, missing = EmbeddingCache(tmp_path).namespace(BASE_KEY).lookup(["a", "b"])
    assert found == {} and missing == [0, 1]
    assert "corrupt" in caplog.text and not path.exists()


class CountingBackend:
    """A fake backend that records what it was asked to encode."""

    max_length = 10

    def __init__(self):
        self.seen = []

    def token_lengths(self, texts):
        return np.array([len(t.split()) for t in texts])

    def embed_batch(self, texts):
        self.seen += list(texts)
        return {"s": np.array([[len(t), 1.0] for t in texts], dtype=np.float32),
                "companion": np.array([[2.0 * len(t)] for t in texts], dtype=np.float32)}


def test_warm_run_never_loads_the_model(tmp_path):
    cache = EmbeddingCache(tmp_path)
    spaces = {name: cache.namespace({**BASE_KEY, "strategy": name}) for name in ("s", "companion")}
    backend = CountingBackend()
    cold = encode_distinct(["x y", "z", "x y"], lambda: backend, strategies=["s"], namespaces=spaces, max_length=10,
                           progress=False)
    assert sorted(backend.seen) == ["x y", "z"] and cold.n_encoded == 2

    def must_not_load():
        raise AssertionError("the model was loaded on a warm run")

    fresh = {name: cache.namespace({**BASE_KEY, "strategy": name}) for name in ("s", "companion")}
    warm = encode_distinct(["z", "x y"], must_not_load, strategies=["s"], namespaces=fresh, max_length=10,
                           progress=False)
    assert warm.n_encoded == 0 and warm.lookup("s", ["x y"]).tolist() == [[3.0, 1.0]]
    companion = encode_distinct(["z"], must_not_load, strategies=["companion"], namespaces=fresh, max_length=10,
                                progress=False)
    assert companion.vectors["companion"].tolist() == [[2.0]]  # computed in the first pass, never asked for


def test_partial_hits_encode_only_new_texts(tmp_path):
    cache = EmbeddingCache(tmp_path)
    spaces = {"s": cache.namespace(BASE_KEY)}
    encode_distinct(["a b"], CountingBackend(), strategies=["s"], namespaces=spaces, progress=False)
    backend = CountingBackend()
    out = encode_distinct(["a b", "c d e"], backend, strategies=["s"], namespaces=spaces, progress=False)
    assert backend.seen == ["c d e"] and out.n_encoded == 1 and out.lookup("s", ["a b"]).tolist() == [[3.0, 1.0]]


@pytest.mark.slow
def test_sweep_costs_one_forward_pass(make_cfg, tiny_models, tiny_data_root):
    base = (*tiny_overrides(tiny_models["bert"], tiny_data_root), "overwrite=always")
    first = run(make_cfg(*base, "pooling=mean"))[0]["bench"]["encoding"]
    assert first["sentences_encoded_this_run"] == 6
    for pooling in ("cls", "max", "mean_max", "first_last_avg", "mean"):
        encoding = run(make_cfg(*base, f"pooling={pooling}"))[0]["bench"]["encoding"]
        assert encoding["sentences_encoded_this_run"] == 0 and encoding["sentences_from_cache"] == 6, pooling
    # a layer choice outside encode.precompute needs its own pass
    assert run(make_cfg(*base, "pooling=mean", "pooling.layers=[-2]"))[0]["bench"]["encoding"][
        "sentences_encoded_this_run"] == 6


def test_cached_scores_equal_fresh_scores(make_cfg, tiny_models, tiny_data_root, tmp_path):
    base = tiny_overrides(tiny_models["roberta"], tiny_data_root, "pooling=max", "overwrite=always", task="cdsc_e")
    cold = run(make_cfg(*base))[0]["scores"]["test"][0]
    warm = run(make_cfg(*base))[0]["scores"]["test"][0]
    uncached = run(make_cfg(*base, "cache.enabled=false"))[0]["scores"]["test"][0]
    assert cold == warm == uncached


def test_cache_command_shows_size_and_clears(tmp_path, capsys):
    _one_shard(tmp_path)
    assert main(["--dir", str(tmp_path)]) == 0
    assert "1 namespace(s), 1 shard(s)" in capsys.readouterr().out
    (tmp_path / "keep.txt").write_text("not ours")
    main(["--dir", str(tmp_path), "--clear"])
    out = capsys.readouterr().out
    assert "removed 1 namespace(s)" in out and "0 namespace(s)" in out and (tmp_path / "keep.txt").exists()
