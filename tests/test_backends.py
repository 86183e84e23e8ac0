"""ONNX Runtime and OpenVINO backends: the same vectors as PyTorch in fp32, int8 as a labelled strategy, exports
cached by what made them, impossible combinations refused before any work."""

import numpy as np
import pytest

from bench.encoding.backends import (
    BackendSpec,
    Calibration,
    build_exported_backend,
    calibration_corpus,
    hidden_layers,
    stream_plan,
)
from bench.encoding.build import build_backend
from bench.encoding.pooling import PoolingSpec
from bench.errors import BenchError
from bench.models.loading import resolve
from bench.models.spec import ModelSpec
from bench.run import run
from tests.conftest import CORPUS, synthetic_rows, write_sick_like
from tests.helpers import tiny_overrides

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

STRATEGIES = [PoolingSpec("mean", "mean"), PoolingSpec("cls", "cls"), PoolingSpec("max", "max"),
              PoolingSpec("first_last_avg", "mean", (1, -1)), PoolingSpec("pooler", "pooler")]


def resolved_model(path, has_sbert=False):
    return resolve(ModelSpec.from_config({"name": "tiny", "name_or_path": str(path), "hub_id": None, "revision": "local",
                                          "max_seq_length": 64, "prompts": {}, "default_pooling": "mean",
                                          "has_sbert": has_sbert}))


def embed(backend, texts):
    return backend.embed_batch(texts)


@pytest.mark.parametrize("name", ["onnx", "openvino"])
def test_fp32_export_gives_pytorch_vectors_for_every_strategy(tiny_models, tmp_path, name):
    if name == "openvino":
        pytest.importorskip("openvino")
    resolved = resolved_model(tiny_models["bert"])
    reference = embed(build_backend(resolved, STRATEGIES, "cpu", None), CORPUS)
    exported = build_exported_backend(resolved, STRATEGIES, BackendSpec(name), tmp_path / "exports")
    got = embed(exported, CORPUS)
    assert set(got) == {s.slug for s in STRATEGIES}
    for slug, vectors in reference.items():
        np.testing.assert_allclose(got[slug], vectors, atol=2e-5, err_msg=slug)
    assert exported.layers == [1, 2]  # only the hidden states the strategies pool over are exported (and the pooler)


@pytest.mark.parametrize("name", ["onnx", "openvino"])
def test_streams_give_each_batch_the_one_stream_vectors_in_order(tiny_models, tmp_path, name):
    """Several batches at once (encode.streams) return every batch's own vectors, in the order asked, equal to one
    batch at a time; three streams on this machine's cores force requests to overlap."""
    if name == "openvino":
        pytest.importorskip("openvino")
    resolved = resolved_model(tiny_models["bert"])
    batches = [CORPUS[i:i + 2] for i in range(0, len(CORPUS), 2)][::-1]  # batches of different lengths and words
    one = build_exported_backend(resolved, STRATEGIES, BackendSpec(name), tmp_path, streams=1)
    three = build_exported_backend(resolved, STRATEGIES, BackendSpec(name), tmp_path, streams=3)
    assert (one.runner.streams, three.runner.streams) == (1, 3)
    alone = [one.embed_batch(texts) for texts in batches]
    together = list(three.embed_batches(iter(batches)))
    assert len(together) == len(batches)
    for got, expected in zip(together, alone):
        for slug in expected:
            np.testing.assert_allclose(got[slug], expected[slug], atol=1e-6, err_msg=slug)
    assert not np.allclose(together[0]["mean"][0], together[1]["mean"][0])  # distinct batches, so order is checked


def test_stream_plan_splits_the_threads_between_the_streams():
    assert stream_plan(4, None) == (2, 2)
    assert stream_plan(1, None) == (1, 1)
    assert stream_plan(4, 3) == (3, 1)
    assert stream_plan(2, 1) == (1, 2)
    assert stream_plan(8, 4) == (4, 2)


def test_sbert_pipeline_runs_its_modules_after_the_exported_transformer(tiny_sbert, tmp_path):
    resolved = resolved_model(tiny_sbert, has_sbert=True)
    sbert = [PoolingSpec("sbert", "sbert")]
    reference = embed(build_backend(resolved, sbert, "cpu", None), CORPUS)["sbert"]
    got = embed(build_exported_backend(resolved, sbert, BackendSpec("onnx"), tmp_path / "exports"), CORPUS)["sbert"]
    np.testing.assert_allclose(got, reference, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # the pipeline's Normalize module ran


def test_int8_is_another_model_close_to_fp32(tiny_models, tmp_path):
    resolved = resolved_model(tiny_models["bert"])
    mean = [PoolingSpec("mean", "mean")]
    fp32 = embed(build_exported_backend(resolved, mean, BackendSpec("onnx"), tmp_path), CORPUS)["mean"]
    int8 = embed(build_exported_backend(resolved, mean, BackendSpec("onnx", "int8"), tmp_path), CORPUS)["mean"]
    assert not np.allclose(int8, fp32, atol=1e-6)
    cosine = (int8 * fp32).sum(1) / np.linalg.norm(int8, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cosine.min() > 0.95
    assert len(list(tmp_path.glob("tiny-*/export.json"))) == 2  # one export per precision


def static_int8(texts=CORPUS[:4]):
    return BackendSpec("openvino", "int8").calibrated(Calibration(tuple(texts), ("tiny",)))


def test_openvino_int8_is_a_static_nncf_model_close_to_fp32_and_cached(tiny_models, tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    resolved = resolved_model(tiny_models["bert"])
    mean = [PoolingSpec("mean", "mean")]
    fp32 = embed(build_exported_backend(resolved, mean, BackendSpec("openvino"), tmp_path), CORPUS)["mean"]
    int8 = embed(build_exported_backend(resolved, mean, static_int8(), tmp_path), CORPUS)["mean"]
    assert not np.allclose(int8, fp32, atol=1e-6)
    cosine = (int8 * fp32).sum(1) / np.linalg.norm(int8, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cosine.min() > 0.95
    (folder,) = [f.parent for f in tmp_path.glob("tiny-*/export.json") if "int8-static" in f.read_text()]
    graph = (folder / "openvino_model.xml").read_text()
    # NNCF's static quantization (FakeQuantize with calibrated ranges), not ONNX Runtime's dynamic int8 converted
    assert 'type="FakeQuantize"' in graph and 'type="ReduceMin"' not in graph
    stamp = (folder / "openvino_model.xml").stat().st_mtime_ns
    build_exported_backend(resolved, mean, static_int8(), tmp_path)  # the same key: the cached export
    assert (folder / "openvino_model.xml").stat().st_mtime_ns == stamp and len(list(tmp_path.glob("tiny-*"))) == 2
    build_exported_backend(resolved, mean, static_int8(CORPUS[2:]), tmp_path)  # other calibration: another export
    assert len(list(tmp_path.glob("tiny-*"))) == 3


def test_static_int8_needs_its_calibration_before_it_is_identified():
    with pytest.raises(BenchError, match="needs its calibration sentences"):
        BackendSpec("openvino", "int8").identity()
    identity = static_int8().identity()
    assert identity["precision"] == "int8-static" and identity["quantizer"]["method"] == "nncf.quantize"
    assert identity["quantizer"]["nncf"] and identity["quantizer"]["calibration"]["sentences"] == 4
    assert identity["quantizer"]["calibration"]["sha256"] != static_int8(CORPUS[1:5]).identity()["quantizer"][
        "calibration"]["sha256"]
    assert "quantizer" not in BackendSpec("onnx", "int8").identity()  # dynamic int8 keeps its identity


@pytest.fixture
def calibration_root(tiny_data_root):
    """The tiny data root with a train split of its own: new sentences and two of the test split's."""
    rows = synthetic_rows(12, 7) + [(100, CORPUS[0], CORPUS[3], 3.0, "NEUTRAL")]
    write_sick_like(tiny_data_root / "cdscorpus" / "CDS_train.txt", rows)
    return tiny_data_root, {s for row in rows[:12] for s in row[1:3]}


def test_calibration_is_train_sentences_never_test_sentences(make_cfg, calibration_root):
    from bench.tasks.spec import task_specs

    root, new = calibration_root
    corpus = calibration_corpus(task_specs(make_cfg("task=cdsc_r").task), root)
    assert set(corpus.texts) == new and not set(corpus.texts) & set(CORPUS)
    assert corpus.tasks == ("cdsc_r",) and corpus.describe()["split"] == "train"
    assert len(calibration_corpus(task_specs(make_cfg("task=cdsc_r").task), root, size=5).texts) == 5
    with pytest.raises(BenchError, match="no sentence outside their test splits"):
        write_sick_like(root / "cdscorpus" / "CDS_train.txt", [(1, CORPUS[0], CORPUS[1], 1.0, "NEUTRAL")])
        calibration_corpus(task_specs(make_cfg("task=cdsc_r").task), root)


def test_openvino_int8_run_is_its_own_labelled_strategy(make_cfg, tiny_models, calibration_root, tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from bench.reports.leaderboard import build

    root, new = calibration_root
    (fp32_run,) = tiny_run(make_cfg, tiny_models, root, "encode.backend=openvino")
    (dynamic_run,) = tiny_run(make_cfg, tiny_models, root, "encode.backend=onnx", "encode.quantize=int8")
    (static_run,) = tiny_run(make_cfg, tiny_models, root, "encode.backend=openvino", "encode.quantize=int8")
    model = static_run["bench"]["settings"]["model"]
    assert static_run["bench"]["strategy"] == "mean+openvino-int8" and model["precision"] == "int8-static"
    assert model["quantizer"]["calibration"]["tasks"] == ["cdsc_r"]
    assert model["quantizer"]["calibration"]["sentences"] == len(new)
    assert static_run["bench"]["encoding"]["quantizer"] == model["quantizer"]
    assert len({r["bench"]["settings_id"] for r in (fp32_run, dynamic_run, static_run)}) == 3
    rows = build(tmp_path / "results", resamples=0)
    assert set(rows["strategy"]) == {"mean", "mean+onnx-int8", "mean+openvino-int8"}


def test_exports_are_cached_by_what_made_them(tiny_models, tmp_path, caplog):
    resolved = resolved_model(tiny_models["bert"])
    mean = [PoolingSpec("mean", "mean")]
    build_exported_backend(resolved, mean, BackendSpec("onnx"), tmp_path)
    (folder,) = tmp_path.glob("tiny-*")
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    build_exported_backend(resolved, mean, BackendSpec("onnx"), tmp_path)
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp and len(list(tmp_path.glob("tiny-*"))) == 1
    build_exported_backend(resolved, [PoolingSpec("first_last_avg", "mean", (1, -1))], BackendSpec("onnx"), tmp_path)
    assert len(list(tmp_path.glob("tiny-*"))) == 2  # other hidden states: another export
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_cached_export_runs_without_loading_the_weights_unless_the_pooler_is_asked(tiny_models, tmp_path,
                                                                                      monkeypatch):
    """The export holds the weights: once it is cached, a run reads only the tokenizer and the config (the PyTorch
    backend's checks need no more), except for the pooler, whose trained weights only the checkpoint can show."""
    import transformers

    resolved = resolved_model(tiny_models["bert"])
    strategies = [PoolingSpec("mean", "mean"), PoolingSpec("cls", "cls"), PoolingSpec("first_last_avg", "mean", (1, -1))]
    first = embed(build_exported_backend(resolved, strategies, BackendSpec("onnx"), tmp_path), CORPUS)  # exports
    loads = []
    real = transformers.AutoModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        loads.append(args[0])
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", classmethod(spy))
    again = embed(build_exported_backend(resolved, strategies, BackendSpec("onnx"), tmp_path), CORPUS)
    assert loads == []
    for slug, vectors in first.items():
        np.testing.assert_array_equal(again[slug], vectors)
    with pytest.raises(BenchError, match="layer"):  # a layer the model lacks, found from the config alone
        build_exported_backend(resolved, [PoolingSpec("l9", "mean", (9,))], BackendSpec("onnx"), tmp_path)
    with_pooler = [PoolingSpec("mean", "mean"), PoolingSpec("pooler", "pooler")]
    build_exported_backend(resolved, with_pooler, BackendSpec("onnx"), tmp_path)  # another export (the pooler's output)
    loads.clear()
    build_exported_backend(resolved, with_pooler, BackendSpec("onnx"), tmp_path)
    assert len(loads) == 1  # cached, but the pooler's check reads the checkpoint


def test_hidden_layers_are_the_union_of_the_strategies():
    assert hidden_layers(STRATEGIES, 3) == ([1, 2], True)
    assert hidden_layers([PoolingSpec("mean", "mean", (0, -2))], 7) == ([0, 5], False)


def tiny_run(make_cfg, tiny_models, tiny_data_root, *extra):
    return run(make_cfg(*tiny_overrides(tiny_models["bert"], tiny_data_root), "pooling=mean",
                        "stats.bootstrap=0", *extra))


def test_backend_and_precision_are_in_the_identity(make_cfg, tiny_models, tiny_data_root, tmp_path):
    (torch_run,) = tiny_run(make_cfg, tiny_models, tiny_data_root)
    (onnx_run,) = tiny_run(make_cfg, tiny_models, tiny_data_root, "encode.backend=onnx")
    (int8_run,) = tiny_run(make_cfg, tiny_models, tiny_data_root, "encode.backend=onnx", "encode.quantize=int8")
    assert "backend" not in torch_run["bench"]["settings"]["model"]  # PyTorch results keep their settings id
    assert onnx_run["bench"]["settings"]["model"]["backend"] == "onnx"
    assert onnx_run["bench"]["settings"]["model"]["precision"] == "fp32"
    assert onnx_run["bench"]["settings"]["model"]["backend_version"]
    assert onnx_run["bench"]["encoding"]["backend"] == "onnx" and onnx_run["bench"]["encoding"]["export"]["opset"] == 17
    assert onnx_run["bench"]["encoding"]["streams"] == stream_plan(None, None)[0]  # how it ran, not in the identity
    assert "streams" not in torch_run["bench"]["encoding"] and "streams" not in str(onnx_run["bench"]["settings"])
    assert int8_run["bench"]["settings"]["model"]["precision"] == "int8-dynamic"
    assert int8_run["bench"]["strategy"] == "mean+onnx-int8" and torch_run["bench"]["strategy"] == "mean"
    ids = {r["bench"]["settings_id"] for r in (torch_run, onnx_run, int8_run)}
    assert len(ids) == 3
    score = lambda r: r["scores"]["test"][0]["main_score"]  # noqa: E731
    assert score(onnx_run) == pytest.approx(score(torch_run), abs=1e-6)
    paths = sorted(str(p.relative_to(tmp_path / "results")).split("/")[2] for p in (tmp_path / "results").glob("**/cdsc_r.json"))
    assert paths == ["mean", "mean", "mean+onnx-int8"]
    # the int8 model's score change against PyTorch fp32: bench.reports.compare's paired bootstrap on the same test pairs
    from bench.reports.compare import compare

    files = {p.parent.name: p for p in (tmp_path / "results").glob("**/cdsc_r.json")}
    paired = compare(files[int8_run["bench"]["settings_id"]], files[torch_run["bench"]["settings_id"]], resamples=200)
    assert paired["difference"] == pytest.approx(score(int8_run) - score(torch_run), abs=1e-12)


@pytest.mark.parametrize(("overrides", "message"), [
    (["encode.quantize=int8"], "encode.quantize=int8 needs an exported model"),
    (["encode.backend=tensorrt"], "encode.backend"),
    (["encode.backend=onnx", "encode.quantize=int4"], "encode.quantize='int4' is not valid"),
    (["encode.backend=onnx", "model.attn_implementation=sdpa"], "does not apply to encode.backend=onnx"),
    (["encode.backend=onnx", "encode.device=cuda"], "runs on the CPU here"),
    (["encode.backend=onnx", "encode.half=true"], "encode.half=true is a GPU setting"),
    (["encode.streams=2"], "encode.streams sets how many batches an exported backend"),
    (["encode.backend=onnx", "encode.streams=0"], "encode.streams=0 is not valid: expected null or an integer >= 1"),
])
def test_impossible_combinations_fail_before_any_work(make_cfg, tiny_models, tiny_data_root, tmp_path, overrides,
                                                       message):
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace("[", r"\[")):
        tiny_run(make_cfg, tiny_models, tiny_data_root, *overrides)
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").glob("**/*.json"))


def test_gpu_benchmark_says_it_needs_cuda(tmp_path):
    import subprocess
    import sys

    import torch

    from tests.conftest import ROOT

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark would run")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--out", str(tmp_path / "gpu.json")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "torch.cuda.is_available() is False" in done.stderr and "nothing was measured" in done.stderr
    assert not (tmp_path / "gpu.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "pooling"), [("onnx", "sbert"), ("openvino", "sbert"), ("onnx", "mean")])
def test_fp32_backends_give_pytorchs_main_scores_on_the_suite(make_cfg, data_root, embedded_cache, backend, pooling):
    """The embedded model on the real Polish suite: every main score within 1e-4 of PyTorch's."""
    if backend == "openvino":
        pytest.importorskip("openvino")
    common = (f"data.root={data_root}", f"cache.dir={embedded_cache}", f"pooling={pooling}", "stats.bootstrap=0")
    main = lambda records: {r["bench"]["task"]: r["scores"]["test"][0]["main_score"] for r in records}  # noqa: E731
    reference = main(run(make_cfg(*common)))
    got = main(run(make_cfg(*common, f"encode.backend={backend}")))
    assert set(got) == set(reference) and len(got) >= 6
    for task, score in reference.items():
        assert got[task] == pytest.approx(score, abs=1e-4), task


def test_preflight_reports_a_refused_backend(make_cfg, tiny_models, tiny_data_root):
    from bench.preflight import preflight

    cfg = make_cfg(*tiny_overrides(tiny_models["bert"], tiny_data_root), "pooling=mean", "encode.quantize=int8")
    with pytest.raises(BenchError, match="(?s)1 problem.*encode.quantize=int8 needs an exported model"):
        preflight(cfg)
