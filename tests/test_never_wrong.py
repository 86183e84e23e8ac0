"""Never a wrong number, never lost work: one test per defect of the hostile review (issue 12).

Result identity covers every setting; no silent garbage; file errors before the encoding pass; an
interrupted encoding resumes; sweeps report failures; readers survive malformed files; unknown keys
and mistyped values are refused; files follow the umask; names are plain text in Markdown and plots.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from bench.errors import BenchError, DataError
from bench.reports.leaderboard import write_leaderboard
from bench.results.record import iter_results
from bench.run import run
from tests.conftest import ROOT
from tests.helpers import tiny_overrides


def tiny(make_cfg, tiny_models, tiny_data_root, *extra, arch="bert"):
    return make_cfg(*tiny_overrides(tiny_models[arch], tiny_data_root), "stats.bootstrap=20", *extra)


def results_under(root) -> dict[str, dict]:
    return {str(path.relative_to(root)): record for path, record in iter_results(root)}


# 1. Stale results presented as new --------------------------------------------------------------------


@pytest.mark.parametrize("variant", [
    ("model.max_seq_length=8",),
    ("+model.prompts.sts='query: '",),
    ("scoring.heldout_thresholds=false", "task=cdsc_e"),
    ("stats.bootstrap=50",),
    ("seed=7",),
])
def test_other_settings_never_reuse_or_replace_a_result(make_cfg, tiny_models, tiny_data_root, tmp_path, variant):
    extra = [v for v in variant if v.startswith("task=")]
    (first,) = run(tiny(make_cfg, tiny_models, tiny_data_root, *extra))
    (second,) = run(tiny(make_cfg, tiny_models, tiny_data_root, *variant))
    assert second["bench"]["settings_id"] != first["bench"]["settings_id"]
    assert second["bench"]["created"] >= first["bench"]["created"] and second is not first
    on_disk = results_under(tmp_path / "results")
    assert len(on_disk) == 2  # both kept, side by side
    (again,) = run(tiny(make_cfg, tiny_models, tiny_data_root, *variant))  # identical settings: reused
    assert again["bench"]["created"] == second["bench"]["created"]


def test_the_planted_regression_is_a_new_result(make_cfg, tiny_models, tiny_data_root):
    """The README's planted regression (max_seq_length=16) once printed the old number as new."""
    (full,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "model.max_seq_length=64"))
    (short,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "model.max_seq_length=4"))
    assert short["scores"]["test"][0]["main_score"] != full["scores"]["test"][0]["main_score"]
    assert short["bench"]["encoding"]["sentences_truncated"] > 0


def test_changed_validation_file_is_a_new_result(make_cfg, tiny_models, tiny_data_root):
    (first,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_e"))
    trial = tiny_data_root / "cdscorpus" / "CDS_trial.txt"
    trial.write_text(trial.read_text(encoding="utf-8").replace("NEUTRAL\n", "ENTAILMENT\n", 1), encoding="utf-8")
    (second,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_e"))
    assert second["bench"]["settings"]["data"]["validation"] != first["bench"]["settings"]["data"]["validation"]
    assert second["bench"]["settings_id"] != first["bench"]["settings_id"]


def test_a_new_bench_version_recomputes_in_place(make_cfg, tiny_models, tiny_data_root, tmp_path, monkeypatch):
    (first,) = run(tiny(make_cfg, tiny_models, tiny_data_root))
    import bench.identity

    monkeypatch.setattr(bench.identity, "__version__", "99.0")
    (second,) = run(tiny(make_cfg, tiny_models, tiny_data_root))
    assert second["bench"]["identity"] != first["bench"]["identity"]
    assert len(results_under(tmp_path / "results")) == 1  # same settings: the same file, now current


# 2. Stale cache after a Dense layer changed (weights of pipeline modules) --------------------------------


@pytest.mark.slow
def test_changed_dense_weights_are_never_served_from_the_cache(make_cfg, hub_models, tiny_data_root, tmp_path):
    import torch

    model_dir = shutil.copytree(hub_models["labse"], tmp_path / "labse-local", symlinks=False)
    base = ("model=hf", f"model.name_or_path={model_dir}", "model.has_sbert=true", "model.max_seq_length=64",
            "pooling=sbert", "task=cdsc_r", "data.check_rows=false", f"data.root={tiny_data_root}",
            "stats.bootstrap=0", "overwrite=always")
    (before,) = run(make_cfg(*base))
    dense_file = model_dir / "2_Dense" / "pytorch_model.bin"
    dense = torch.load(dense_file, weights_only=True)
    dense["linear.weight"] = torch.flip(dense["linear.weight"], dims=[0]) * 3
    torch.save(dense, dense_file)
    (after,) = run(make_cfg(*base))
    assert after["bench"]["model"]["weights_sha256"] != before["bench"]["model"]["weights_sha256"]
    assert after["bench"]["encoding"]["sentences_encoded_this_run"] == after["bench"]["encoding"]["sentences_distinct"]
    assert after["scores"]["test"][0]["cosine_pearson"] != before["scores"]["test"][0]["cosine_pearson"]


# 4. Names that become path parts ----------------------------------------------------------------------


@pytest.mark.parametrize("override", ["model.revision=../../../escaped", "pooling.name=../up",
                                      "task.name=a/b", "model.hub_id=.."])
def test_names_cannot_escape_the_results_folder(make_cfg, tiny_data_root, tmp_path, override):
    cfg = make_cfg("task=cdsc_r", "data.check_rows=false", f"data.root={tiny_data_root}", "pooling=mean", override)
    if override.startswith("model.revision"):
        cfg.model.hub_id = None  # the embedded model's revision names its folder
    with pytest.raises(BenchError, match="cannot name a results folder|not valid"):
        run(cfg)
    assert not list(tmp_path.parent.glob("**/escaped")) and not (tmp_path / "up").exists()


# 5. Work lost to late errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["results_dir", "cache.dir"])
def test_unusable_output_folders_fail_before_the_model_loads(make_cfg, tiny_models, tiny_data_root, tmp_path,
                                                              setting, monkeypatch):
    import bench.plan

    monkeypatch.setattr(bench.plan, "resolve", lambda *a: pytest.fail("the model was resolved before the check"))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(BenchError, match=f"{setting}=.*a-file is a file, not a folder"):
        run(tiny(make_cfg, tiny_models, tiny_data_root, f"{setting}={blocker}"))
    with pytest.raises(BenchError, match=f"{setting}=.*not writable"):
        run(tiny(make_cfg, tiny_models, tiny_data_root, f"{setting}={blocker}/below"))


def test_a_folder_where_a_data_file_should_be(make_cfg, tiny_models, tiny_data_root):
    test_file = tiny_data_root / "cdscorpus" / "CDS_test_annotated.txt"
    test_file.unlink()
    test_file.mkdir()
    with pytest.raises(DataError, match="the test file .*CDS_test_annotated.txt is a folder, not a data file"):
        run(tiny(make_cfg, tiny_models, tiny_data_root))


def test_an_interrupted_encoding_resumes_from_the_cache(tiny_models, tmp_path, monkeypatch):
    import bench.encoding.encode
    from bench.encoding.cache import EmbeddingCache
    from bench.encoding.encode import encode_distinct
    from bench.encoding.pooling import PoolingSpec
    from bench.encoding.torch_backend import HiddenStateBackend
    from bench.models import loading
    from bench.models.spec import ModelSpec

    resolved = loading.resolve(ModelSpec.from_config(dict(name="tiny", name_or_path=str(tiny_models["bert"]), max_seq_length=32)))
    tokenizer, model, _ = loading.load_transformer(resolved, "cpu")
    strategy = PoolingSpec("mean", "mean")
    backend = HiddenStateBackend(tokenizer, model, "cpu", 32, [strategy])
    texts = [f"zdanie numer {i} o kocie" for i in range(40)]
    space = EmbeddingCache(tmp_path).namespace({"model": "tiny"})
    monkeypatch.setattr(bench.encoding.encode, "FLUSH_BATCHES", 1)
    calls = {"n": 0}
    real = backend.embed_batch

    def dies_after_three(batch):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(batch)

    monkeypatch.setattr(backend, "embed_batch", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        encode_distinct(texts, backend, strategies=["mean"], namespaces={"mean": space}, batch_size=4, progress=False)
    monkeypatch.setattr(backend, "embed_batch", real)
    fresh_space = EmbeddingCache(tmp_path).namespace({"model": "tiny"})
    resumed = encode_distinct(texts, backend, strategies=["mean"], namespaces={"mean": fresh_space}, batch_size=4,
                              progress=False)
    assert resumed.n_encoded == 40 - 12  # three batches of four survived the interruption
    whole = encode_distinct(texts, backend, strategies=None, batch_size=4, progress=False)
    np.testing.assert_allclose(resumed.vectors["mean"], whole.vectors["mean"], atol=1e-5)


def test_leftover_temporary_files_are_cleaned(tmp_path):
    from bench.encoding.cache import EmbeddingCache

    space = EmbeddingCache(tmp_path).namespace({"model": "x"})
    space.store(["a"], np.ones((1, 2)), np.array([1]))
    old, recent = space.directory / ".abc.tmp", space.directory / ".def.tmp"
    old.write_bytes(b"half")
    recent.write_bytes(b"in progress")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    EmbeddingCache(tmp_path).namespace({"model": "x"}).lookup(["a"])
    assert not old.exists() and recent.exists()


# 6. Silent success -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_sweep_with_a_failed_job_exits_non_zero_and_says_which(tiny_models, tiny_data_root, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "-m", "pooling=mean", "model=hf",  # (sbert without a pipeline: skipped)
         f"model.name_or_path={tiny_models['bert']}", "model.has_sbert=false", "model.max_seq_length=64,4096",
         "task=cdsc_r", "data.check_rows=false", f"data.root={tiny_data_root}", f"results_dir={tmp_path / 'res'}",
         f"cache.dir={tmp_path / 'cache'}", f"hydra.sweep.dir={tmp_path / 'sweep'}", "encode.progress=false",
         "stats.bootstrap=0"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 of 2 job(s) failed" in done.stdout and "model.max_seq_length=4096" in done.stdout.split("failed:")[1]
    assert "Sweep summary" in done.stdout and "| bert |" in done.stdout
    assert len(list((tmp_path / "res").glob("**/cdsc_r.json"))) == 1
    reports = sorted((tmp_path / "sweep").glob("*/bench_job.json"))
    assert [json.loads(p.read_text())["status"] for p in reports] == ["ok", "failed"]


@pytest.mark.slow
def test_a_sweep_where_every_job_fails_is_not_a_success(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "-m", "task=cdsc_r,cdsc_e", f"data.root={tmp_path / 'no'}",
                           f"results_dir={tmp_path / 'res'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and "2 of 2 job(s) failed" in done.stdout


# 7. One bad file breaks nothing ------------------------------------------------------------------------


def test_malformed_results_are_skipped_and_a_damaged_pairs_file_is_recomputed(make_cfg, tiny_models,
                                                                               tiny_data_root, tmp_path, caplog):
    (record,) = run(tiny(make_cfg, tiny_models, tiny_data_root))
    results = tmp_path / "results"
    (results / "null.json").write_text("null")
    (results / "x" / "y").mkdir(parents=True)
    (results / "x" / "y" / "half.json").write_text(json.dumps({"scores": {"test": [{}]}, "bench": {}}))
    paths = write_leaderboard(results, resamples=0)
    assert "bert" in paths["md"].read_text()
    assert "null.json is not a complete bench result (not a JSON object" in caplog.text
    pairs = next(results.glob("**/cdsc_r.pairs.npz"))
    pairs.write_bytes(pairs.read_bytes()[:100])  # truncated by a full disk, say
    (again,) = run(tiny(make_cfg, tiny_models, tiny_data_root))
    assert again["bench"]["created"] >= record["bench"]["created"] and "cannot read per-pair scores" in caplog.text
    from bench.results.record import read_pairs

    assert read_pairs(pairs)[1].shape == (6,)  # rewritten whole


# 8. Unknown keys and mistyped values --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), [
    (["+pooling.layer=[-2]"], "unknown setting 'pooling.layer'. Did you mean 'pooling.layers'? Valid keys under "
                              "pooling: fn, layers, name, normalize."),
    (["encode.batchsize=8"], "unknown setting 'encode.batchsize' (encode.batchsize=8). Did you mean "
                             "'encode.batch_size'?"),
    (["encode.batch_size=2.5"], "encode.batch_size=2.5: wrong type (Value '2.5' of type 'float' could not be "
                                "converted to Integer)."),
    (["cache.enabled=maybe"], "cache.enabled=maybe: wrong type (Value 'maybe' is not a valid bool)."),
    (["pooling.layers=-2"], "pooling.layers=-2: wrong type (pooling.layers takes a list: pooling.layers=[-2])."),
    (["encode.device=[cpu]"], "encode.device=[cpu]: encode.device cannot take this value (Cannot convert 'list' to "
                              "string"),
    (["model=hf"], "model=hf needs model.name_or_path=<hub id or model folder>"),
    (["-m", "pooling=choice(cls,meen)"], "Unknown pooling 'meen'. Did you mean 'mean'?"),
])
def test_command_line_mistakes_exit_2_with_the_valid_choices(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


def test_off_means_off(make_cfg, tiny_models, tiny_data_root, tmp_path):
    cfg = tiny(make_cfg, tiny_models, tiny_data_root, "cache.enabled=off")
    assert cfg.cache.enabled is False
    run(cfg)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.slow
def test_hydra_sweep_grammar_works(tiny_models, tiny_data_root, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "-m", "pooling=glob(m*,exclude=mean_max)", "encode.batch_size=range(2,5,2)",
         *tiny_overrides(tiny_models["bert"], tiny_data_root), f"results_dir={tmp_path / 'res'}",
         f"hydra.sweep.dir={tmp_path / 'sweep'}", "encode.progress=false", "stats.bootstrap=0"],
        capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All 4 job(s) succeeded." in done.stdout  # (max, mean) x (2, 4)
    assert sorted({p.parent.parent.name for p in (tmp_path / "res").glob("**/cdsc_r.json")}) == ["max", "mean"]


# 9. The smaller ones ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_files_follow_the_umask(tiny_models, tiny_data_root, tmp_path):
    args = [sys.executable, "-m", "bench", *tiny_overrides(tiny_models["bert"], tiny_data_root),
            f"results_dir={tmp_path / 'res'}", f"cache.dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'out'}",
            "encode.progress=false", "stats.bootstrap=0"]
    done = subprocess.run(["sh", "-c", 'umask 002 && exec "$@"', "sh", *args], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    written = [p for p in [*(tmp_path / "res").rglob("*"), *(tmp_path / "cache").rglob("*")] if p.is_file()]
    assert written and {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o664)}


def test_names_are_plain_text_in_markdown_and_plots(tmp_path):
    from bench.reports.leaderboard.plots import plot
    from bench.reports.leaderboard.tables import to_markdown
    from tests.leaderboard_fixtures import similarities, targets_for, write_result

    targets = targets_for("cdsc_r")
    write_result(tmp_path, "evil|name*$x^2$", "mean", "cdsc_r", similarities("cdsc_r", targets, 0.3, 1), targets)
    paths = write_leaderboard(tmp_path, resamples=0)
    table = paths["md"].read_text()
    assert "| evil\\|name\\*$x^2$ |" in table
    import pandas as pd

    assert to_markdown(pd.DataFrame({"model": ["a|b"], "score": [1.0]})).splitlines()[2] == "| a\\|b | 1.00 |"
    frame = pd.DataFrame({"task": ["cdsc_r"] * 2, "pooling": ["mean"] * 2, "method": ["none", "pca"],
                          "bytes_per_vector": [1536, 64], "main_score": [0.8, 0.7], "metric": ["cosine_spearman"] * 2})
    plot(frame, tmp_path / "p.png", "$\\frac{unbalanced")  # maths parsing would raise on this title
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_a_csv_quote_error_names_the_line_it_starts_on(tmp_path):
    from bench.tasks.from_files import FileFormat, read_pairs
    from bench.tasks.targets import TargetSpec

    fmt = FileFormat(columns=("sentence1", "sentence2", "score"), sentence1="sentence1", sentence2="sentence2",
                     target="score", delimiter=",", quoting="csv", has_header=False)
    lines = ['"a","b",1'] * 3 + ['"open quote,"x",2'] + ['"c","d",3'] * 90
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv:4: .*(malformed|cannot parse)"):
        read_pairs(path, fmt, TargetSpec("score", score_range=(0, 5)))


def test_a_settings_variant_is_its_own_leaderboard_row(tmp_path):
    """A one-task rerun with another maximum length is a labelled row; the usual run stays whole."""
    from bench.reports.leaderboard import build
    from bench.reports.leaderboard.tables import wide
    from tests.leaderboard_fixtures import similarities, targets_for, write_result

    for task in ("cdsc_r", "cdsc_e"):
        targets = targets_for(task)
        write_result(tmp_path, "m", "mean", task, similarities(task, targets, 0.3, 1), targets,
                     settings={"model": {"max_seq_length": 256}, "data": {"test": f"sha256:{task}"}})
    targets = targets_for("cdsc_r")
    write_result(tmp_path, "m", "mean", "cdsc_r", similarities("cdsc_r", targets, 1.5, 2), targets,
                 settings={"model": {"max_seq_length": 16}, "data": {"test": "sha256:cdsc_r"}})
    suite = wide(build(tmp_path, resamples=0)).set_index("variant")
    assert sorted(suite.index) == ["", "max_seq_length=16"]
    assert suite.loc["", ["cdsc_e", "cdsc_r"]].notna().all()  # the usual run keeps both tasks in one row
    assert suite.loc["max_seq_length=16", "cdsc_r"] < suite.loc["", "cdsc_r"]


def test_a_custom_pipeline_module_needs_trust(tiny_sbert, tmp_path):
    from bench.models import loading
    from bench.models.spec import ModelSpec

    model_dir = shutil.copytree(tiny_sbert, tmp_path / "custom")
    modules = json.loads((model_dir / "modules.json").read_text())
    modules[1]["type"] = "my_package.MagicPooling"
    (model_dir / "modules.json").write_text(json.dumps(modules))
    resolved = loading.resolve(ModelSpec.from_config(dict(name="custom", name_or_path=str(model_dir), has_sbert=True, max_seq_length=32)))
    with pytest.raises(BenchError, match=r"custom pipeline module\(s\) 1_Pooling \(my_package.MagicPooling\).*"
                                         r"trust_remote_code=true"):
        loading.load_sentence_transformer(resolved, "cpu")


def test_invalid_utf8_names_the_line(tmp_path):
    from bench.tasks.from_files import FileFormat, read_pairs
    from bench.tasks.targets import TargetSpec

    fmt = FileFormat(columns=("a", "b", "s"), sentence1="a", sentence2="b", target="s", delimiter="\t")
    path = tmp_path / "latin2.txt"
    path.write_bytes(b"a\tb\ts\nkot\tpies\t1\n" + "żółw\tryba\t2\n".encode("iso-8859-2"))
    with pytest.raises(DataError, match=r"latin2.txt:3: not valid UTF-8"):
        read_pairs(path, fmt, TargetSpec("score", score_range=(0, 5)))


def test_a_language_with_a_test_file_only_runs(make_cfg, tiny_models, tmp_path):
    """Only the splits a run needs are read: STS scoring needs test alone (issue: task.lang=de demanded train)."""
    root = tmp_path / "data"
    (root / "stsb-multi-mt").mkdir(parents=True)
    rows = ["Ein Mann spielt Gitarre.,Ein Mann spielt ein Instrument.,4.2", "Ein Hund läuft.,Eine Frau kocht.,0.4",
            "Kinder spielen.,Die Kinder spielen draußen.,4.0", "Es regnet.,Das Auto ist rot.,0.0",
            "Eine Frau liest.,Eine Frau liest ein Buch.,3.6"]  # bench.scoring.MIN_PAIRS: 5
    (root / "stsb-multi-mt" / "stsb-de-test.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (record,) = run(make_cfg("model=hf", f"model.name_or_path={tiny_models['bert']}", "model.max_seq_length=64",
                             "task=stsb_multi_mt", "task.lang=de", f"data.root={root}", "data.check_rows=false",
                             "stats.bootstrap=0"))
    assert record["bench"]["task"] == "stsb_multi_mt.de" and set(record["bench"]["data"]) == {"test"}
