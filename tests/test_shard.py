"""One model copy spread over devices (``encode.shard``, accelerate's ``device_map``): where a model goes is decided
from its size and each device's free memory before loading (bench/models/capacity.py), and a spread model gives the
vectors of one device. No GPU here: the placement is tested as a pure function of the memory, and the spreading
itself on the CPU, with accelerate's layer offload standing in for a second device."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.encoding.build import build_backend
from bench.encoding.encode import encode_distinct
from bench.encoding.pooling import PoolingSpec
from bench.encoding.torch_backend import HiddenStateBackend
from bench.errors import BenchError
from bench.models.capacity import GIB, accelerate_memory, memory_cap, placement
from bench.models.loading import resolve
from bench.models.spec import ModelSpec
from bench.run import run
from tests.conftest import CORPUS, ROOT

TEXTS = [f"{a} {b}" for a in CORPUS for b in CORPUS]
#: Mean and CLS over the last layer, and the first and last layers' average: hidden states from several layers.
STRATEGIES = [PoolingSpec("mean", "mean"), PoolingSpec("cls", "cls"), PoolingSpec("fla", "mean", layers=(0, -1))]
TWO_GPUS = {"cuda:0": 10 * GIB, "cuda:1": 12 * GIB}


def test_a_model_that_fits_one_device_is_placed_as_before():
    assert placement("m", 8 * GIB, torch.float32, ["cuda:0"], {"cuda:0": 10 * GIB}) is None
    assert placement("m", 8 * GIB, torch.float32, ["cuda:0", "cuda:1"], TWO_GPUS) is None  # a copy on each
    assert placement("m", 8 * GIB, torch.float32, ["mps"], {"mps": None}) is None  # unknown memory: not checked


def test_a_model_that_fits_only_spread_is_refused_with_how_to_ask_for_it():
    with pytest.raises(BenchError, match=r"model 'm' needs about 12 GiB of weights in float32 \(14.4 GiB with room "
                                         r"to run\) but cuda:0 has 10 GiB free. It fits spread over the devices "
                                         r"\(cuda:0 10 GiB, cuda:1 12 GiB: 22 GiB free together\): add "
                                         r"encode.shard=true to load one copy over cuda:0, cuda:1"):
        placement("m", 12 * GIB, torch.float32, ["cuda:0", "cuda:1"], TWO_GPUS)


def test_a_spread_model_takes_each_devices_memory_less_the_room_to_run():
    spread = placement("m", 12 * GIB, torch.float32, ["cuda:0", "cuda:1"], TWO_GPUS, shard=True)
    assert spread == {"cuda:0": int(10 * GIB / 1.2), "cuda:1": int(12 * GIB / 1.2)}
    assert sum(spread.values()) >= 12 * GIB
    assert accelerate_memory(spread) == {0: int(10 * GIB / 1.2), 1: int(12 * GIB / 1.2)}  # accelerate's keys
    assert accelerate_memory({"cuda:1": 5, "cpu": 7}) == {1: 5, "cpu": 7}


@pytest.mark.parametrize("shard", [False, True])
def test_a_model_that_fits_nowhere_is_refused_with_its_size_and_all_free_memory(shard):
    with pytest.raises(BenchError) as refused:
        placement("big", 30 * GIB, torch.float32, ["cuda:0", "cuda:1"], TWO_GPUS, shard=shard)
    message = str(refused.value)
    assert "model 'big' needs about 30 GiB of weights in float32 (36 GiB with room to run)" in message
    assert "cuda:0 10 GiB, cuda:1 12 GiB: 22 GiB free together" in message
    assert "encode.half=true (bf16/fp16 on GPU) halves it" in message
    with pytest.raises(BenchError, match=r"needs about 15 GiB of weights in bfloat16 .* but cuda:0 has 10 GiB free\. "
                                         r"encode.devices=\[cuda:0,cuda:1,...\] encode.shard=true spreads one copy"):
        placement("big", 15 * GIB, torch.bfloat16, ["cuda:0"], {"cuda:0": 10 * GIB})  # one GPU: how to use more


def test_sharding_needs_distinct_devices_with_known_memory():
    with pytest.raises(BenchError, match=r"names one memory twice"):
        placement("m", GIB, torch.float32, ["cpu", "cpu"], {"cpu": 10 * GIB}, shard=True)
    with pytest.raises(BenchError, match=r"mps does not report it"):
        placement("m", GIB, torch.float32, ["cuda:0", "mps"], {"cuda:0": 10 * GIB, "mps": None}, shard=True)


def test_max_memory_setting():
    assert memory_cap(None) is None
    assert memory_cap("20GiB") == 20 * GIB and memory_cap(1000) == 1000 and memory_cap("500MB") == 500_000_000
    for bad in ("lots", "0", "-5GB"):
        with pytest.raises(BenchError, match=r"encode.max_memory=.* is not a size: give bytes"):
            memory_cap(bad)


def test_a_model_spread_by_accelerate_gives_one_devices_vectors(tiny_models, tmp_path):
    """The encode path on a model accelerate spread over two places (its layers offloaded, run through its hooks,
    as on several GPUs), and on bench's own sharded load: the vectors of the model on one device."""
    from accelerate.utils import compute_module_sizes
    from transformers import AutoModel

    resolved = resolve(ModelSpec.from_config({"name_or_path": str(tiny_models["bert"]), "max_seq_length": 64}))
    whole = build_backend(resolved, STRATEGIES, "cpu", torch.float32)
    one = encode_distinct(TEXTS, whole, progress=False, batch_size=5)
    size = compute_module_sizes(whole.model)[""]
    spread = AutoModel.from_pretrained(tiny_models["bert"], dtype=torch.float32, device_map="auto",
                                       max_memory={"cpu": int(size * 0.7)}, offload_folder=str(tmp_path / "offload"))
    assert len(set(spread.hf_device_map.values())) == 2, spread.hf_device_map  # really spread
    hooked = HiddenStateBackend(whole.tokenizer, spread.eval(), "cpu", 64, STRATEGIES)
    sharded = build_backend(resolved, STRATEGIES, "cpu", torch.float32, shard=["cpu"])  # bench's device_map load
    for backend in (hooked, sharded):
        other = encode_distinct(TEXTS, backend, progress=False, batch_size=5)
        assert set(other.vectors) == set(one.vectors) == {s.slug for s in STRATEGIES}
        for name, vectors in one.vectors.items():
            np.testing.assert_allclose(other.vectors[name], vectors, rtol=0, atol=1e-6)


def test_a_sharded_sbert_pipeline_gives_one_devices_vectors(tiny_sbert):
    resolved = resolve(ModelSpec.from_config({"name_or_path": str(tiny_sbert), "max_seq_length": 32}))
    strategy = [PoolingSpec("sbert", "sbert")]
    one = encode_distinct(TEXTS, build_backend(resolved, strategy, "cpu", torch.float32), progress=False)
    spread = encode_distinct(TEXTS, build_backend(resolved, strategy, "cpu", torch.float32, shard=["cpu"]),
                             progress=False)
    np.testing.assert_allclose(spread.vectors["sbert"], one.vectors["sbert"], rtol=0, atol=1e-6)


BASE = ("model=hf", "model.max_seq_length=64", "task=cdsc_r", "data.check_rows=false", "pooling=mean",
        "stats.bootstrap=0")


def test_a_sharded_run_is_the_same_result(make_cfg, tiny_models, tiny_data_root):
    """Sharding changes where the weights are, not the vectors: it stays out of the identity (and the cache key)."""
    base = (*BASE, f"model.name_or_path={tiny_models['bert']}", f"data.root={tiny_data_root}", "cache.enabled=false")
    (single,) = run(make_cfg(*base))
    (spread,) = run(make_cfg(*base, "encode.shard=true", "overwrite=always"))
    assert spread["bench"]["encoding"]["sharded"] is True and "sharded" not in single["bench"]["encoding"]
    assert spread["bench"]["settings_id"] == single["bench"]["settings_id"]
    assert spread["scores"]["test"][0]["main_score"] == single["scores"]["test"][0]["main_score"]


@pytest.mark.parametrize(("overrides", "message"), [
    (("encode.shard=true", "encode.max_memory=1000"), r"needs about [\d.]+ KiB of weights in float32 \([\d.]+ KiB "
                                                      r"with room to run\), more than the devices it would be spread "
                                                      r"over have \(cpu 1000 B: 1000 B free together\)"),
    (("encode.shard=true", "encode.devices=[cpu,cpu]"), r"names one twice"),
    (("encode.shard=true", "encode.backend=onnx"), r"encode.backend=onnx runs an exported model"),
    (("encode.max_memory=plenty",), r"encode.max_memory='plenty' is not a size"),
])
def test_a_placement_that_cannot_be_is_refused_before_loading(make_cfg, tiny_models, tiny_data_root, overrides,
                                                              message, monkeypatch):
    loaded = []
    monkeypatch.setattr("bench.models.loading.load_transformer", lambda *a, **k: loaded.append(a))
    cfg = make_cfg(*BASE, f"model.name_or_path={tiny_models['bert']}", f"data.root={tiny_data_root}",
                   "cache.enabled=false", *overrides)
    with pytest.raises(BenchError, match=message):
        run(cfg)
    assert loaded == []  # refused before loading
    assert not list(Path(cfg.results_dir).rglob("*.json"))  # nothing written


@pytest.mark.slow  # a subprocess that imports torch
def test_cli_refuses_a_model_too_big_for_the_memory_with_exit_2(tiny_models, tiny_data_root, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", *BASE, f"model.name_or_path={tiny_models['bert']}",
         f"data.root={tiny_data_root}", f"results_dir={tmp_path}/results", f"cache.dir={tmp_path}/cache",
         f"hydra.run.dir={tmp_path}/out", "encode.device=cpu", "encode.max_memory=100KiB"],
        capture_output=True, text=True, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert "needs about 116 KiB of weights in float32 (139 KiB with room to run) but cpu has 100 KiB free." in output
    assert not list((tmp_path / "results").rglob("*.json"))  # nothing written
