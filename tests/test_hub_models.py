"""Every shipped model config through the real hub code path, on offline replicas of its repository.

Nothing is patched: ``snapshot_download`` and the loaders run as for a user, with ``HF_HUB_OFFLINE=1``
and the session's Hugging Face cache holding the replicas (tests/hub_replica.py), whose tree listings
make huggingface_hub refuse a download that asks for a file bench should not fetch.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.models import loading
from bench.models.spec import ModelSpec
from bench.preflight import preflight
from bench.run import run
from tests.conftest import ROOT
from tests.helpers import tiny_overrides
from tests.hub_replica import MODEL_REPOS

HIDDEN_POOLINGS = ("cls", "mean", "max", "mean_max", "first_last_avg")
DECODER_POOLINGS = ("last_token", "mean", "max", "mean_max", "first_last_avg")  # cls is refused for decoders
DECODERS = ("qwen3", "qwen2", "gemma3_text")  # gemma3_text: a causal-LM type to transformers, even bidirectional
STATIC = ("static", "model2vec")  # sentence-transformers' StaticEmbedding; model2vec's layout of it


def _cfg(make_cfg, tiny_data_root, *extra):
    return make_cfg("task=cdsc_r", f"data.root={tiny_data_root}", "data.check_rows=false", *extra)


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(MODEL_REPOS))
def test_every_model_config_runs_from_its_replica(make_cfg, tiny_data_root, hub_models, config):
    repo = MODEL_REPOS[config]
    static = repo.model_type in STATIC  # its pipeline only
    hidden = () if static else DECODER_POOLINGS if repo.model_type in DECODERS else HIDDEN_POOLINGS
    poolings = hidden + (("sbert",) if repo.sbert or static else ())
    trust = ("model.trust_remote_code=true",) if repo.remote_code else ()  # refused without (tested below)
    for pooling in poolings:  # the first loads and runs the model for every hidden-state strategy; sbert, its pipeline
        (record,) = run(_cfg(make_cfg, tiny_data_root, f"model={config}", f"pooling={pooling}", *trust))
        model = record["bench"]["model"]
        assert model["source"] == "hub" and model["hub_id"] == repo.repo_id
        assert model["resolved_revision"] == repo.commit  # the pinned commit (herbert_large: main's, resolved)
        assert record["bench"]["pooling"]["name"] == pooling
        assert np.isfinite(record["scores"]["test"][0]["main_score"])
        weights = model["weights"]
        expected_format = "pytorch" if repo.weights == "bin" else "safetensors"
        assert weights["format"] == expected_format, weights
        assert len(model["weights_sha256"]) == 64 and weights["sha256"] == model["weights_sha256"]
        if pooling == "sbert" and (repo.sbert or {}).get("dense"):
            assert weights["files"] == ["pytorch_model.bin", "2_Dense/pytorch_model.bin"]
        if pooling == "sbert" and (repo.sbert or {}).get("denses"):  # every projection's weights are in the digest
            assert weights["files"] == ["model.safetensors", "2_Dense/model.safetensors", "3_Dense/model.safetensors"]


def test_pinned_configs_and_revisions(make_cfg):
    """Every config names the commit its replica is pinned at; only herbert_large follows main."""
    for config, repo in MODEL_REPOS.items():
        spec = ModelSpec.from_config(make_cfg(f"model={config}").model)
        assert spec.hub_id == repo.repo_id
        assert spec.revision == ("main" if config == "herbert_large" else repo.commit)


@pytest.mark.slow
def test_headline_command_offline(hub_models, hub_datasets, tmp_path):
    """`python -m bench model=herbert pooling=mean` as a user types it: hub model, hub data, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("BENCH_DATA_ROOT", None)
    done = subprocess.run([sys.executable, "-m", "bench", "model=herbert", "pooling=mean",
                           f"results_dir={tmp_path / 'results'}", f"cache.dir={tmp_path / 'cache'}",
                           "encode.progress=false", "stats.bootstrap=100", f"hydra.run.dir={tmp_path / 'out'}"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = sorted((tmp_path / "results").glob("**/*.json"))
    names = sorted(p.name for p in results if p.name.startswith(("cdsc", "sick", "ppc", "stsb")))
    assert names == ["cdsc_e.json", "cdsc_r.json", "ppc.json", "sick_e_pl.json", "sick_r_pl.json",
                     "stsb_multi_mt.pl.json"]
    record = json.loads(next(p for p in results if p.name == "cdsc_e.json").read_text())
    assert record["bench"]["model"]["resolved_revision"] == MODEL_REPOS["herbert"].commit
    assert "/50e33e0567be0c0b313832314c586e3df0dc2297/mean/" in str(next(p for p in results if p.name == "cdsc_e.json"))
    assert record["bench"]["data"]["test"]["kind"] == "hub"
    assert record["scores"]["test"][0]["heldout_split"] == "validation"  # hub data has validation splits now
    assert "| herbert |" in done.stdout and "Traceback" not in done.stderr


@pytest.mark.slow
def test_hub_data_scores_equal_local_scores(make_cfg, data_root, hub_datasets, tmp_path, embedded_cache):
    """The replicas of PL-MTEB's copies, read through snapshot_download and datasets, give the same
    scores as the original files; PPC's hub copy is MTEB's text (ppc_mteb), which matches the published
    number. Held-out thresholds come from the hub's validation splits."""
    cache = f"cache.dir={embedded_cache}"  # shared: the second run encodes nothing, the data decide
    local = {r["bench"]["task"]: r for r in run(make_cfg(f"data.root={data_root}", cache, "stats.bootstrap=0"))}
    local_ppc = run(make_cfg(f"data.root={data_root}", "task=ppc_mteb", cache, "stats.bootstrap=0"))[0]
    hub = {r["bench"]["task"]: r for r in run(make_cfg("data.root=null", cache, "stats.bootstrap=0",
                                                       f"results_dir={tmp_path / 'hub'}"))}
    assert set(hub) == set(local)
    for task, record in hub.items():
        ours = record["scores"]["test"][0]
        theirs = (local_ppc if task == "ppc" else local[task])["scores"]["test"][0]
        assert ours["main_score"] == pytest.approx(theirs["main_score"], abs=1e-6), task
        assert record["bench"]["data"]["test"]["kind"] == "hub"
        expected = {"validation", "test"} if record["bench"]["task_config"]["type"] == "pair_classification" else {"test"}
        assert set(record["bench"]["data"]) == expected  # held-out thresholds from the hub's validation split
    for task in ("cdsc_e", "sick_e_pl", "ppc"):
        assert 0 < hub[task]["scores"]["test"][0]["heldout_accuracy"] <= 1
    assert hub["ppc"]["scores"]["test"][0]["main_score"] == pytest.approx(0.698808055469613, abs=1e-4)


@pytest.mark.slow
def test_relatedness_probe_on_hub_data_and_a_clear_nli_refusal(make_cfg, hub_datasets, hub_models, tmp_path):
    base = ("model=mbert", "pooling=mean", "data.root=null", "stats.bootstrap=0")
    (record,) = run(make_cfg(*base, "probe=relatedness", "task=cdsc_r"))
    assert record["bench"]["probe"]["name"] == "relatedness" and set(record["bench"]["data"]) == {
        "train", "validation", "test"}
    with pytest.raises(BenchError, match="binary labels .* as the hub copies do.*data.root"):
        run(make_cfg(*base, "probe=nli", "task=cdsc_e"))


def test_preflight_reports_every_config_without_encoding(make_cfg, tiny_data_root, hub_models, monkeypatch):
    import bench.encoding.encode

    monkeypatch.setattr(bench.encoding.encode, "forward", lambda *a, **k: pytest.fail("preflight must not encode"))
    report = preflight(_cfg(make_cfg, tiny_data_root, "model=labse"))
    assert report["revision"] == MODEL_REPOS["labse"].commit and report["weights"] == "pytorch"
    assert report["weight_files"] == ["pytorch_model.bin", "2_Dense/pytorch_model.bin"]
    assert report["pipeline"] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert report["data"]["cdsc_r"]["test"]["rows"] == 6


def test_preflight_lists_every_problem(make_cfg, tmp_path, hub_models):
    cfg = make_cfg("model=hf", "model.name_or_path=org/not-in-the-cache", "task=polish", f"data.root={tmp_path}")
    with pytest.raises(BenchError, match=r"found 7 problem\(s\)") as caught:
        preflight(cfg)
    text = str(caught.value)
    assert "cdsc_r" in text and "stsb_multi_mt" in text and "org/not-in-the-cache" in text


# ------------------------------------------------------------------ safety of pickled weights


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_weights_that_run_code_are_refused(tiny_models, tmp_path):
    import shutil

    model_dir = shutil.copytree(tiny_models["bert"], tmp_path / "evil")
    state = loading.load_transformer(loading.resolve(ModelSpec.from_config(dict(name="ok", name_or_path=str(model_dir), max_seq_length=32))), "cpu")[1]
    (model_dir / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    payload = {k: v for k, v in state.state_dict().items()}
    payload["exploit"] = _Exploit(marker)
    torch.save(payload, model_dir / "pytorch_model.bin")
    resolved = loading.resolve(ModelSpec.from_config(dict(name="evil", name_or_path=str(model_dir), max_seq_length=32)))
    assert resolved.weights.format == "pytorch"
    with pytest.raises(BenchError, match="cannot load model"):
        loading.load_transformer(resolved, "cpu")
    assert not marker.exists()  # the restricted unpickler never ran the payload


def test_restricted_unpickling_overrides_an_explicit_request(tmp_path):
    from bench.models.weights import restricted_unpickling

    marker = tmp_path / "pwned"
    torch.save({"x": _Exploit(marker)}, tmp_path / "w.bin")
    with restricted_unpickling(), pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported"):
        torch.load(tmp_path / "w.bin", weights_only=False)  # what an old library might ask for
    assert not marker.exists()
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ


def test_dense_weights_are_in_the_digest_and_the_cache_key(hub_models, tmp_path):
    import shutil

    model_dir = shutil.copytree(hub_models["labse"], tmp_path / "labse", symlinks=False)
    spec = ModelSpec.from_config(dict(name="labse", name_or_path=str(model_dir), max_seq_length=32, has_sbert=True))
    before = loading.resolve(spec)
    key = before.cache_key({"name": "sbert"}, "float32", "")
    dense = torch.load(model_dir / "2_Dense" / "pytorch_model.bin", weights_only=True)
    dense["linear.bias"] += 1.0
    (model_dir / "2_Dense" / "pytorch_model.bin").unlink()
    torch.save(dense, model_dir / "2_Dense" / "pytorch_model.bin")
    after = loading.resolve(spec)
    assert after.weights_sha256 != before.weights_sha256
    assert after.cache_key({"name": "sbert"}, "float32", "") != key


def test_a_module_without_weights_is_one_clear_line(hub_models, tmp_path):
    import shutil

    model_dir = shutil.copytree(hub_models["labse"], tmp_path / "labse", symlinks=False)
    (model_dir / "2_Dense" / "pytorch_model.bin").unlink()
    with pytest.raises(BenchError, match=r"no weights for module '2_Dense' \(sentence_transformers.models.Dense\)"):
        loading.resolve(ModelSpec.from_config(dict(name="labse", name_or_path=str(model_dir), has_sbert=True)))


# ------------------------------------------------------------------ names, prompts, offline detection


@pytest.mark.parametrize("name", ["ipipan/silver-retriever-base-v1.1", "Qwen/Qwen3-Embedding-0.6B"])
def test_hub_ids_with_dots_are_hub_ids(name):
    spec = ModelSpec.from_config({"name_or_path": name})
    assert spec.hub_id == name
    with pytest.raises(BenchError, match=f"could not fetch model '{name}'.*offline"):
        loading.resolve(spec)


def test_local_paths_are_told_apart(tmp_path):
    with pytest.raises(BenchError, match="model folder not found"):
        loading.resolve(ModelSpec.from_config({"name_or_path": str(tmp_path / "nope.v1")}))
    with pytest.raises(BenchError, match="model folder not found"):
        loading.resolve(ModelSpec.from_config({"name_or_path": "./relative/model"}))


def test_prompts_by_task_type(make_cfg):
    e5 = ModelSpec.from_config(make_cfg("model=multilingual_e5_base").model)
    assert e5.prompt("sts") == e5.prompt("pair_classification") == "query: "
    mmlw = ModelSpec.from_config(make_cfg("model=mmlw_roberta_base").model)
    assert mmlw.prompt("sts") == mmlw.prompt("pair_classification") == ""  # 'zapytanie: ' is for retrieval
    with pytest.raises(BenchError, match="unknown key .retrieval.*Valid keys: a task type .sts, pair_classification"):
        ModelSpec.from_config({"name_or_path": "x/y", "prompts": {"retrieval": "q: "}})
    with pytest.raises(BenchError, match="model.prefix was replaced by model.prompts"):
        ModelSpec.from_config({"name_or_path": "x/y", "prefix": "query: "})


def test_prompt_by_type_reaches_the_encoder_and_the_cache_key(make_cfg, tiny_models, tiny_data_root):
    base = (*tiny_overrides(tiny_models["bert"], tiny_data_root), "pooling=mean")
    (plain,) = run(make_cfg(*base))
    (prompted,) = run(make_cfg(*base, "+model.prompts.sts='query: '", "overwrite=always"))
    assert plain["bench"]["encoding"]["prompt"] == "" and prompted["bench"]["encoding"]["prompt"] == "query: "
    assert prompted["bench"]["encoding"]["sentences_encoded_this_run"] > 0  # not served from the plain vectors
    assert prompted["scores"]["test"][0]["main_score"] != plain["scores"]["test"][0]["main_score"]


@pytest.mark.slow
def test_unreachable_hub_is_detected_at_once(hub_models, tiny_data_root, tmp_path):
    """No HF_HUB_OFFLINE, no network: one probe, one line, then the cache alone (no retries)."""
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens: refused at once
    env.pop("HF_HUB_OFFLINE")
    code = ("import time, logging; logging.basicConfig(level=logging.WARNING); t = time.time();"
            "from bench.models.spec import ModelSpec; from bench.models.loading import resolve;"
            "r = resolve(ModelSpec.from_config(dict(name='mbert', name_or_path='google-bert/bert-base-multilingual-cased',"
            " revision='3f076fdb1ab68d5b2880cb87a0886f315b8146f8')));"
            "print('RESOLVED', r.resolved_revision, round(time.time() - t, 2))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "RESOLVED 3f076fdb1ab68d5b2880cb87a0886f315b8146f8" in done.stdout
    assert float(done.stdout.split()[-1]) < 10
    assert done.stderr.count("cannot be reached") == 1 and "Retrying" not in done.stderr


def test_a_static_embedding_runs_only_its_pipeline_and_never_truncates(make_cfg, tiny_data_root, hub_models):
    (record,) = run(_cfg(make_cfg, tiny_data_root, "model=static_similarity_mrl_multilingual"))
    assert record["bench"]["pooling"]["name"] == "sbert" and record["bench"]["settings"]["model"]["max_seq_length"] is None
    assert record["bench"]["model"]["weights"]["files"] == ["0_StaticEmbedding/model.safetensors"]
    assert record["bench"]["encoding"]["sentences_truncated"] == 0
    with pytest.raises(BenchError, match="is a static embedding .*no hidden states to pool with pooling=mean; use pooling=sbert"):
        run(_cfg(make_cfg, tiny_data_root, "model=static_similarity_mrl_multilingual", "pooling=mean"))
    with pytest.raises(BenchError, match="static embedding, which never truncates: set model.max_seq_length=null"):
        run(_cfg(make_cfg, tiny_data_root, "model=static_similarity_mrl_multilingual", "model.max_seq_length=512"))
    # a transformer given no length takes its own (bench.models.loading.own_length), never "no limit"
    (own,) = run(_cfg(make_cfg, tiny_data_root, "model=mmlw_roberta_base", "model.max_seq_length=null", "pooling=mean"))
    assert isinstance(own["bench"]["settings"]["model"]["max_seq_length"], int)
    assert "max_seq_length" in own["bench"]["max_seq_length_reason"] or "tokens" in own["bench"]["max_seq_length_reason"]


def test_a_model2vec_model_runs_through_sentence_transformers_static_embedding(make_cfg, tiny_data_root, hub_models):
    """potion-multilingual-128M in model2vec's layout (``embeddings`` table and tokenizer at the root, modules.json
    naming StaticEmbedding at "." and Normalize): bench's pipeline gives model2vec's own vectors."""
    StaticModel = pytest.importorskip("model2vec").StaticModel

    (record,) = run(_cfg(make_cfg, tiny_data_root, "model=potion_multilingual_128m"))
    assert record["bench"]["model"]["weights"]["files"] == ["model.safetensors"]
    assert record["bench"]["encoding"]["sentences_truncated"] == 0 and record["bench"]["encoding"]["prompt"] == ""
    with pytest.raises(BenchError, match="is a static embedding .*use pooling=sbert"):
        run(_cfg(make_cfg, tiny_data_root, "model=potion_multilingual_128m", "pooling=mean"))
    spec = ModelSpec.from_config(make_cfg("model=potion_multilingual_128m").model)
    texts = ["Dwoje dzieci wspina się po ściance .", "Pies biegnie po plaży za piłką !"]
    ours = loading.load_sentence_transformer(loading.resolve(spec), "cpu").encode(texts, convert_to_numpy=True)
    theirs = StaticModel.from_pretrained(str(hub_models["potion_multilingual_128m"])).encode(texts)
    assert np.linalg.norm(theirs, axis=1) == pytest.approx([1.0, 1.0], abs=1e-6)  # config.json: normalize
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_a_repository_with_its_own_model_code_is_refused_unless_trusted(make_cfg, tiny_data_root, hub_models):
    """gte-Qwen2-7B-instruct maps AutoModel to its modeling_qwen.py: without trust, transformers would load its
    built-in Qwen2Model instead (another model), so both paths refuse, naming the class and the setting."""
    for pooling in ("sbert", "last_token"):
        with pytest.raises(BenchError, match=r"needs its repository's own code: its config.json maps AutoModel to "
                                             r"modeling_qwen.Qwen2Model.*model.trust_remote_code=true"):
            run(_cfg(make_cfg, tiny_data_root, "model=gte_qwen2_7b_instruct", f"pooling={pooling}"))


def test_append_eos_ends_every_input_with_the_eos_token_in_both_paths(make_cfg, tiny_data_root, hub_models):
    """model.append_eos (gte-Qwen2, as MTEB runs it with add_eos_token=True): the tokenizer appends <|endoftext|>,
    whose hidden state last-token pooling reads; bench's own last_token pooling and the pipeline's lasttoken give the
    same ranking, the setting is in the identity only when set, and without it the vectors change."""
    base = ("model=gte_qwen2_7b_instruct", "model.trust_remote_code=true")
    spec = ModelSpec.from_config(make_cfg(*base).model)
    resolved = loading.resolve(spec)
    tokenizer = loading.load_tokenizer(resolved)
    ids = tokenizer(["Pies biegnie po plaży .", "Kobieta kroi cebulę"])["input_ids"]
    assert tokenizer.eos_token == "<|endoftext|>" and [row[-1] for row in ids] == [tokenizer.eos_token_id] * 2
    assert [row[-2] for row in ids] != [tokenizer.eos_token_id] * 2  # appended once, by the tokenizer
    pipeline = loading.load_sentence_transformer(resolved, "cpu")
    assert pipeline.tokenizer(["Pies"])["input_ids"][0][-1] == tokenizer.eos_token_id
    (raw,) = run(_cfg(make_cfg, tiny_data_root, *base, "pooling=last_token"))
    (sbert,) = run(_cfg(make_cfg, tiny_data_root, *base, "pooling=sbert"))
    assert raw["bench"]["settings"]["model"]["append_eos"] is True is sbert["bench"]["settings"]["model"]["append_eos"]
    assert raw["scores"]["test"][0]["cosine_spearman"] == pytest.approx(sbert["scores"]["test"][0]["cosine_spearman"],
                                                                       abs=1e-6)
    (without,) = run(_cfg(make_cfg, tiny_data_root, *base, "pooling=last_token", "model.append_eos=false"))
    assert "append_eos" not in without["bench"]["settings"]["model"]
    assert without["scores"]["test"][0]["cosine_spearman"] != pytest.approx(raw["scores"]["test"][0]["cosine_spearman"],
                                                                            abs=1e-6)
    with pytest.raises(BenchError, match="model.append_eos must be true or false"):
        ModelSpec.from_config({"name_or_path": "x/y", "append_eos": "yes"})


def test_preflight_shows_each_tasks_resolved_instruction(make_cfg, tiny_data_root, hub_models):
    def report(task):
        return preflight(make_cfg("model=qwen3_embedding_0_6b", f"task={task}", f"data.root={tiny_data_root}",
                                  "data.check_rows=false"))

    assert report("cdsc_e")["prompts"] == {
        "cdsc_e": "Instruct: Retrieve text that are semantically similar to the given text.\nQuery:"}
    report = report("cdsc_r")
    assert report["prompts"] == {"cdsc_r": "Instruct: Retrieve semantically similar text.\nQuery:"}
    assert report["tokenizer"] == "Qwen2Tokenizer" and report["pipeline"] == ["Transformer", "Pooling", "Normalize"]


def test_training_tokenizes_with_the_eos_token_as_evaluation_does(make_cfg, hub_models, tmp_path):
    """model.append_eos also holds for training (bench.train's base, either path) and for the saved model's
    evaluation, so a model is fine-tuned on the inputs it is evaluated on."""
    from bench.train.loop import saved_model_spec

    spec = ModelSpec.from_config(make_cfg("model=gte_qwen2_7b_instruct", "model.trust_remote_code=true").model)
    resolved = loading.resolve(spec)
    eos = loading.load_tokenizer(resolved).eos_token_id
    raw = tmp_path / "raw"  # the same repository without its sentence-transformers pipeline: the raw-encoder path
    shutil.copytree(hub_models["gte_qwen2_7b_instruct"], raw, ignore=shutil.ignore_patterns("modules.json"))
    raw_spec = ModelSpec.from_config({"name": "raw", "name_or_path": str(raw), "revision": "local", "hub_id": None,
                                      "trust_remote_code": True, "append_eos": True, "max_seq_length": 32})
    for model in (loading.load_for_training(resolved, "lasttoken", "cpu"),
                  loading.load_for_training(loading.resolve(raw_spec), "lasttoken", "cpu")):
        assert model.tokenize(["Pies biegnie"])["input_ids"][0][-1].item() == eos
    without = loading.resolve(dataclasses.replace(spec, append_eos=False))
    assert loading.load_for_training(without, "lasttoken", "cpu").tokenize(["Pies"])["input_ids"][0][-1].item() != eos
    assert saved_model_spec(tmp_path, spec, "sts").append_eos is True
    assert saved_model_spec(tmp_path, dataclasses.replace(spec, append_eos=False), "sts").append_eos is False
