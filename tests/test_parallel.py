"""Data-parallel encoding (bench/encoding/parallel.py): two CPU processes give one process's vectors."""

import numpy as np
import pytest

from bench.encoding.build import build_backend
from bench.encoding.encode import encode_distinct
from bench.encoding.parallel import ParallelBackend, pick_devices
from bench.encoding.pooling import PoolingSpec
from bench.errors import BenchError
from bench.models.loading import resolve
from bench.models.spec import ModelSpec
from bench.run import run
from tests.conftest import CORPUS
from tests.helpers import tiny_overrides

TEXTS = [f"{a} {b}" for a in CORPUS for b in CORPUS]  # 36 distinct sentences of varied length


@pytest.mark.slow  # spawns processes that import torch: tens of seconds
@pytest.mark.parametrize("strategies", [("mean", "cls"), ("sbert",)])
def test_two_cpu_processes_equal_one(tiny_models, tiny_sbert, strategies):
    import torch

    folder = tiny_sbert if strategies == ("sbert",) else tiny_models["xlmr"]
    resolved = resolve(ModelSpec.from_config({"name_or_path": str(folder), "max_seq_length": 64}))
    specs = [PoolingSpec(name, name) for name in strategies]
    one = encode_distinct(TEXTS, build_backend(resolved, specs, "cpu", torch.float32), progress=False, batch_size=5)
    parallel = ParallelBackend(resolved, specs, ["cpu", "cpu"], torch.float32, threads=1)
    two = encode_distinct(TEXTS, parallel, progress=False, batch_size=5)
    assert set(two.vectors) == set(one.vectors) == set(strategies)
    for name in strategies:
        assert two.vectors[name].shape == one.vectors[name].shape
        np.testing.assert_allclose(two.vectors[name], one.vectors[name], rtol=0, atol=1e-6)
    assert two.n_truncated == one.n_truncated


def test_devices_setting():
    assert pick_devices(None) is None and pick_devices(["cpu"]) is None  # one process
    assert pick_devices(["cpu", "cpu"]) == ["cpu", "cpu"]
    with pytest.raises(BenchError, match="encode.devices must be a list"):
        pick_devices("cpu")
    with pytest.raises(BenchError, match="not auto"):
        pick_devices(["auto", "cpu"])
    with pytest.raises(BenchError, match="Unknown device 'gpu7'"):
        pick_devices(["cpu", "gpu7"])


@pytest.mark.slow
def test_a_run_on_two_processes_is_the_same_result(make_cfg, tiny_models, tiny_data_root):
    base = (*tiny_overrides(tiny_models["bert"], tiny_data_root), "pooling=mean", "stats.bootstrap=0")
    (single,) = run(make_cfg(*base, "cache.enabled=false"))
    (double,) = run(make_cfg(*base, "cache.enabled=false", "encode.devices=[cpu,cpu]", "overwrite=always"))
    assert double["bench"]["encoding"]["devices"] == ["cpu", "cpu"]
    assert double["bench"]["settings_id"] == single["bench"]["settings_id"]  # the same vectors: the same result
    assert double["scores"]["test"][0]["main_score"] == pytest.approx(single["scores"]["test"][0]["main_score"],
                                                                      abs=1e-6)


def test_attention_kernel_is_a_setting_of_the_identity(make_cfg, tiny_models, tiny_data_root):
    base = (*tiny_overrides(tiny_models["bert"], tiny_data_root), "pooling=mean", "stats.bootstrap=0")
    (default,) = run(make_cfg(*base))
    assert "attn_implementation" not in default["bench"]["settings"]["model"]  # earlier results keep their id
    (eager,) = run(make_cfg(*base, "model.attn_implementation=eager"))
    assert eager["bench"]["settings"]["model"]["attn_implementation"] == "eager"
    assert eager["bench"]["settings_id"] != default["bench"]["settings_id"]
    assert eager["bench"]["encoding"]["sentences_encoded_this_run"] > 0  # its own cache entries
    assert eager["scores"]["test"][0]["main_score"] == pytest.approx(default["scores"]["test"][0]["main_score"],
                                                                     abs=1e-5)
    with pytest.raises(BenchError, match="model.attn_implementation='flash' is not .*valid: eager, sdpa"):
        ModelSpec.from_config({"name_or_path": "x/y", "attn_implementation": "flash"})


def test_a_model_too_big_for_the_device_is_refused_before_loading(tiny_models, monkeypatch):
    import torch
    from safetensors.torch import load_file

    import bench.models.capacity
    from bench.models.capacity import check_fits, parameter_bytes

    resolved = resolve(ModelSpec.from_config({"name": "tiny", "name_or_path": str(tiny_models["bert"]),
                                              "max_seq_length": 64}))
    numel = sum(t.numel() for t in load_file(tiny_models["bert"] / "model.safetensors").values())
    assert parameter_bytes(resolved.path, resolved.weights.files, torch.float32) == 4 * numel
    assert parameter_bytes(resolved.path, resolved.weights.files, torch.bfloat16) == 2 * numel
    check_fits(resolved, ["cpu"], torch.float32)  # this machine holds a tiny model
    monkeypatch.setattr(bench.models.capacity, "available_bytes", lambda device: 4 * numel)  # weights fit, room to run does not
    with pytest.raises(BenchError, match=r"model 'tiny' needs about [\d.]+ KiB of weights in float32 .* but cpu has "
                                         r"[\d.]+ KiB free. encode.half=true .*halves it"):
        check_fits(resolved, ["cpu"], torch.float32)
    monkeypatch.setattr(bench.models.capacity, "available_bytes", lambda device: int(4 * numel * 1.5))
    check_fits(resolved, ["cpu"], torch.float32)  # one copy fits
    with pytest.raises(BenchError, match="2 copies"):
        check_fits(resolved, ["cpu", "cpu"], torch.float32)  # two processes on one memory do not
    loaded = []
    monkeypatch.setattr("bench.models.loading.load_transformer", lambda *a, **k: loaded.append(a))
    monkeypatch.setattr(bench.models.capacity, "available_bytes", lambda device: 10)
    with pytest.raises(BenchError, match="needs about"):
        build_backend(resolved, [PoolingSpec("mean", "mean")], "cpu", torch.float32)
    assert loaded == []  # refused before loading
