"""A new user's first hour: the command line as people write it, sweeps that tell skipped from failed."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.launch.cli import HELP, hydra_flags_first
from tests.conftest import ROOT


def _hydra_parse(argv: list[str]):
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["preflight=true", "-m", "experiment=polish_models"], ["-m", "preflight=true", "experiment=polish_models"]),
        (["pooling=cls", "--multirun", "task=cdsc_r"], ["--multirun", "pooling=cls", "task=cdsc_r"]),
        (["a=1", "--cfg", "job", "b=2"], ["--cfg", "job", "a=1", "b=2"]),
        (["a=1", "--info", "defaults", "b=2"], ["--info", "defaults", "a=1", "b=2"]),
        (["a=1", "--info", "b=2"], ["--info", "a=1", "b=2"]),
        (["~a", "-m", "seed=-1"], ["-m", "~a", "seed=-1"]),
        (["-m", "a=1"], ["-m", "a=1"]),
    ],
)
def test_hydra_flags_move_before_the_overrides(argv, expected):
    assert hydra_flags_first(argv) == expected


def test_flag_after_an_override_parses_as_hydra_reads_it():
    args = _hydra_parse(hydra_flags_first(["pooling=cls", "-m", "task=cdsc_r", "model=herbert,xlmr"]))
    assert args.multirun is True
    assert args.overrides == ["pooling=cls", "task=cdsc_r", "model=herbert,xlmr"]


@pytest.mark.parametrize("config_name", sorted(HELP))
def test_every_example_in_the_help_parses(config_name):
    """Each example line of ``--help`` (``python -m bench... ``) is read by Hydra's parser with nothing left over."""
    examples = [line.split("  ")[0].strip() for line in HELP[config_name].splitlines()
                if line.strip().startswith("python -m bench")]
    assert examples
    for example in examples:
        argv = shlex.split(example)[3:]
        args = _hydra_parse(hydra_flags_first(argv))  # argparse exits (SystemExit) on anything it cannot read
        assert len(args.overrides) == len([a for a in argv if not a.startswith("-")]), example


def test_two_hydra_modes_are_one_clear_error(monkeypatch, capsys):
    """Hydra raises a ValueError with a traceback for -m with --cfg; bench says which flags clash."""
    from bench.launch.cli import launch

    monkeypatch.setattr(sys, "argv", ["bench", "pooling=cls", "-m", "task=cdsc_r", "--cfg", "job"])
    with pytest.raises(SystemExit) as exit_info:
        launch(lambda: pytest.fail("Hydra must not start"))
    assert exit_info.value.code == 2
    assert "error: -m and --cfg cannot be combined" in capsys.readouterr().err


@pytest.mark.slow
def test_multirun_flag_after_a_setting_runs_the_sweep(tmp_path, tiny_models, tiny_data_root):
    """``-m`` after a setting starts a sweep (preflight: nothing encoded) instead of Hydra's usage dump."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "preflight=true", "model=hf", f"model.name_or_path={tiny_models['bert']}",
         "-m", "pooling=cls,mean", "task=cdsc_r", f"data.root={tiny_data_root}", "data.check_rows=false",
         "model.max_seq_length=128", f"results_dir={tmp_path}/r",
         f"hydra.sweep.dir={tmp_path}/sweep"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert "unrecognized arguments" not in done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir() and p.name.isdigit()) == ["0", "1"]
    assert "Preflight of 2 job(s): 1 model(s), 1 data source(s)" in done.stdout
    assert "  OK      model bert (" in done.stdout and "  OK      data cdsc_r (files in " in done.stdout
    assert "leaderboard:" not in done.stdout and not (tmp_path / "r").exists()  # preflight writes nothing


# ------------------------------------------------------------------ sweeps: skipped is not failed


def _report(num, status, error=None, checks=None, results=()):
    report = {"status": status, "error": error, "job": {"num": num, "overrides": [f"pooling=p{num}"]},
              "results": list(results), "folder": f"/sweep/{num}"}
    if checks is not None:
        report["checks"] = checks
    return report


def test_combinations_that_do_not_apply_are_skipped_not_failed():
    from bench.launch.sweep import summary_text

    reports = [_report(0, "ok"), _report(1, "skipped", "model 'herbert' has no sentence-transformers pipeline"),
               _report(2, "ok")]
    text, failures = summary_text(reports, [])
    assert failures == 0
    assert "1 combination(s) skipped (they do not apply; not failures):" in text
    assert text.count("model 'herbert' has no sentence-transformers pipeline") == 1
    assert "All 2 job(s) succeeded (1 skipped)." in text and "failed" not in text


def test_a_real_failure_still_fails_the_sweep():
    from bench.launch.sweep import summary_text

    text, failures = summary_text([_report(0, "skipped", "n/a"), _report(1, "failed", "boom")], [Path("/sweep/2")])
    assert failures == 2
    assert "2 of 3 job(s) failed:" in text and "job 1 (pooling=p1): boom [/sweep/1]" in text
    assert "job in /sweep/2: no report" in text


def test_preflight_sweep_lists_each_model_and_data_source_once():
    from bench.launch.sweep import summary_text

    def checks(model_ok):
        return {"model": {"name": "m (org/m @ main)", "ok": model_ok, **(
                    {"detail": "safetensors weights"} if model_ok else {"problem": "could not fetch model 'org/m'"})},
                "data": {"cdsc_r (hub a @ 1)": {"ok": False, "problem": "could not fetch task 'cdsc_r'"},
                         "ppc (hub b @ 2)": {"ok": True, "detail": "test 6 rows"}}}

    reports = [_report(n, "failed", "preflight of m found 2 problem(s)", checks(False)) for n in range(12)]
    reports.append(_report(12, "skipped", "model 'm' has no sentence-transformers pipeline"))
    text, failures = summary_text(reports, [])
    assert failures == 12
    assert "Preflight of 12 job(s): 1 model(s), 2 data source(s)" in text
    assert text.count("could not fetch model 'org/m'") == 1 and text.count("could not fetch task 'cdsc_r'") == 1
    assert "  PROBLEM model m (org/m @ main): see problem 1" in text
    assert "  PROBLEM data cdsc_r (hub a @ 1): see problem 2" in text
    assert "  OK      data ppc (hub b @ 2): test 6 rows" in text
    assert "12 job(s) with the preflight problems above: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 [/sweep]" in text
    assert len(text.splitlines()) < 20


def test_job_numbers_sort_naturally(tmp_path):
    import json

    from bench.launch.sweep import JOB_REPORT, job_folders, read_reports

    for num in (0, 1, 2, 10, 11, 20):
        (tmp_path / str(num) / ".hydra").mkdir(parents=True)
        (tmp_path / str(num) / JOB_REPORT).write_text(json.dumps({"status": "ok", "job": {"num": num}}))
    assert [r["job"]["num"] for r in read_reports(tmp_path)] == [0, 1, 2, 10, 11, 20]
    assert [p.name for p in job_folders(tmp_path)] == ["0", "1", "2", "10", "11", "20"]


@pytest.mark.slow
def test_sweep_with_a_combination_that_does_not_apply_exits_0(tmp_path, tiny_models, tiny_data_root):
    """The sbert strategy on a model without a sentence-transformers pipeline is skipped; the sweep succeeds."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "model=hf", f"model.name_or_path={tiny_models['bert']}", "model.has_sbert=false",
         "model.max_seq_length=128", "pooling=mean,sbert", "-m", "task=cdsc_r", f"data.root={tiny_data_root}",
         "data.check_rows=false", "stats.bootstrap=0", f"results_dir={tmp_path}/r", f"cache.dir={tmp_path}/cache",
         f"hydra.sweep.dir={tmp_path}/sweep"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "1 combination(s) skipped (they do not apply; not failures):" in output
    assert "All 1 job(s) succeeded (1 skipped)." in output
    assert output.count("so pooling=sbert is not available") == 1


# ------------------------------------------------------------------ the leaderboard, at the end of a run or by hand


def _bold(markdown: str) -> list[str]:
    return sorted(re.findall(r"^\|.*\*\*.*$", markdown, flags=re.M))


def test_leaderboard_at_the_end_of_a_run_matches_one_built_by_hand(tmp_path):
    """Bold (ties co-bolded) never depends on the significance resamples; "vs best" is computed or says how."""
    from bench.reports.leaderboard import write_leaderboard
    from tests.leaderboard_fixtures import SUITE, populate_every_kind

    results = tmp_path / "results"
    populate_every_kind(results)
    end_of_run = write_leaderboard(results, out_dir=tmp_path / "run", resamples=0, suite=SUITE)
    by_hand = write_leaderboard(results, out_dir=tmp_path / "hand", resamples=100, suite=SUITE)
    fast, full = end_of_run["md"].read_text(), by_hand["md"].read_text()
    assert _bold(fast) and [re.sub(r" ≈", "", line).split("| best")[0] for line in _bold(fast)] == \
        [re.sub(r" ≈", "", line).split("| best")[0] for line in _bold(full)]
    for text in (fast, full):
        cdsc_r = text.split("## cdsc_r (cosine_spearman)")[1].split("\n## ")[0]
        tied = [line for line in cdsc_r.splitlines() if "**" in line]
        assert len(tied) == 2 and {"good-tuned", "tuned-twin"} == {line.split("|")[2].strip() for line in tied}
        assert all("| best |" in line for line in tied)
    cdsc_r = fast.split("## cdsc_r (cosine_spearman)")[1].split("\n## ")[0]
    assert cdsc_r.count("| not computed |") == 6 and "n/a" not in cdsc_r
    assert f"bench-leaderboard --results {results}" in fast
    assert "not computed" not in full and re.search(r"\| [+-]\d+\.\d\d \(p", full)
    assert not re.search(r"\b(nan|None)\b", fast + full)
    for paths in (end_of_run, by_hand):
        html = paths["html"].read_text()
        shown = re.sub(r"<(script|style)>.*?</\1>", "", html, flags=re.S)
        assert not re.search(r"\b(nan|None)\b", re.sub(r"<[^>]+>", " ", shown)), "nan or None shown"
        assert "mathdefault" not in html and "good@abc123" in html


def test_a_cross_encoder_without_a_bi_encoder_shows_empty_cells(tmp_path):
    from bench.reports.leaderboard import write_leaderboard
    from tests.leaderboard_fixtures import SUITE, targets_for, write_result

    targets = targets_for("cdsc_r")
    prediction = targets / targets.max()
    write_result(tmp_path / "r", "x-cross", "cross-encoder", "cdsc_r", {"prediction": prediction, "cosine": prediction,
                 "manhattan": prediction, "euclidean": prediction}, targets, task_name="cdsc_r.cross",
                 meta={"encoding": None, "cross_encoder": {"head": "regression", "task": "cdsc_r", "model_dir": "m"},
                       "task_config": {"name": "cdsc_r", "type": "cross_regression", "lang": "pl",
                                       "eval_split": "test"}})
    paths = write_leaderboard(tmp_path / "r", resamples=0, suite=SUITE)
    markdown = paths["md"].read_text()
    row = next(line for line in markdown.split("## Cross-encoders")[1].splitlines() if "x-cross" in line)
    assert row.endswith("|  |  | n/a (no bi-encoder result on these pairs) |")
    assert not re.search(r"\b(nan|None)\b", markdown)


def test_plot_ticks_are_plain_numbers():
    from bench.reports.leaderboard.plots import plain_tick

    assert [plain_tick(v) for v in (64, 1024.0, 0.5)] == ["64", "1024", "0.5"]


# ------------------------------------------------------------------ bench-compare takes what a user has


@pytest.fixture
def fixture_results(tmp_path):
    from tests.leaderboard_fixtures import populate

    results = tmp_path / "results"
    populate(results)
    return results


def _compare(capsys, *argv):
    from bench.reports.compare import main

    code = main([*argv, "--resamples", "50"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_compare_two_model_strategy_names(fixture_results, capsys):
    code, out, _ = _compare(capsys, "--results", str(fixture_results), "good/mean", "weak/mean")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| cdsc_")]
    assert [row.split(" | ")[0] for row in rows] == ["| cdsc_e", "| cdsc_r"]
    assert all(row.endswith("| yes |") for row in rows)  # good is far better than weak on both tasks
    assert "A = good/mean (" in out and "/good/abc123/mean/" in out and "B = weak/mean (" in out


def test_compare_names_with_a_revision_and_one_task(fixture_results, capsys):
    code, out, _ = _compare(capsys, "--results", str(fixture_results), "good/abc/mean", "twin/mean", "--task", "cdsc_r")
    assert code == 0
    assert [line.split(" | ")[0] for line in out.splitlines() if line.startswith("| cdsc")] == ["| cdsc_r"]


def test_compare_two_run_folders_and_a_file_with_a_name(fixture_results, tmp_path, capsys):
    import shutil

    run_a, run_b = tmp_path / "run_a", tmp_path / "run_b"
    shutil.copytree(fixture_results / "good" / "abc123" / "mean", run_a / "good" / "abc123" / "mean")
    shutil.copytree(fixture_results / "weak" / "abc123" / "mean", run_b / "weak" / "abc123" / "mean")
    code, out, _ = _compare(capsys, str(run_a), str(run_b))
    assert code == 0 and out.count("| yes |") == 2 and "mean of 2" in out
    (file_a,) = run_a.rglob("cdsc_r.json")
    code, out, _ = _compare(capsys, "--results", str(fixture_results), str(file_a), "twin/mean")
    assert code == 0
    assert [line.split(" | ")[0] for line in out.splitlines() if line.startswith("| cdsc")] == ["| cdsc_r"]


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ("good/maen", "weak/mean", "Unknown model/strategy in .* 'good/maen'. Did you mean 'good/mean'\\?"),
        ("good", "weak/mean", "neither a file nor a folder, nor a name MODEL/STRATEGY"),
        ("good/mean", "weak/mean --task ppc", "no result of ppc on both sides; both hold: cdsc_e, cdsc_r"),
    ],
)
def test_compare_names_it_cannot_resolve(fixture_results, capsys, a, b, message):
    b, *extra = b.split(" ", 1)
    code, out, err = _compare(capsys, "--results", str(fixture_results), a, b, *(extra[0].split() if extra else []))
    assert code == 2 and not out
    assert re.search(message, err), err


# ------------------------------------------------------------------ offline: what to set, how to supply a copy


def test_offline_missing_model_says_how_to_supply_a_local_copy():
    from bench.errors import BenchError
    from bench.models import loading
    from bench.models.spec import ModelSpec

    with pytest.raises(BenchError) as caught:
        loading.resolve(ModelSpec.from_config({"name_or_path": "org/not-in-the-cache"}))
    text = str(caught.value)
    assert "could not fetch model 'org/not-in-the-cache' at revision 'main'" in text
    assert "hf download org/not-in-the-cache --revision main --local-dir DIR" in text
    assert "model.name_or_path=DIR" in text and "HF_HUB_CACHE" in text


def test_offline_missing_data_says_what_to_set(make_cfg, hub_datasets):
    from bench.errors import DataError
    from bench.tasks.spec import load_task, task_specs

    (spec,) = task_specs(make_cfg("task=stsb_multi_mt", "task.lang=de").task)  # the replica has pl and en only
    with pytest.raises(DataError) as caught:
        load_task(spec, None, splits=("test",))
    assert "data.root=DIR (or export BENCH_DATA_ROOT=DIR)" in str(caught.value)
    assert "hf download" not in str(caught.value)  # that hint is for models


# ------------------------------------------------------------------ make bench, make test


MAKE = shutil.which("make")


def _make_dry_run(tmp_path, *targets, env=None):
    """What make would run (``make -n``) with a virtualenv that does not exist yet."""
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "ARGS", "PYTEST_ARGS", "VENV")  # the tests run under make test
    environment = {k: v for k, v in os.environ.items() if k not in outer}
    done = subprocess.run([MAKE, "-n", "--no-print-directory", f"VENV={tmp_path / 'venv'}", *targets],
                          capture_output=True, text=True, cwd=ROOT, env={**environment, **(env or {})}, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_bench_sets_up_once_then_runs_the_default(tmp_path):
    out = _make_dry_run(tmp_path, "bench")
    steps = [line.rstrip() for line in out.splitlines() if line.strip()]
    assert f"python3 -m venv {tmp_path / 'venv'}" in out
    gpu = next(i for i, line in enumerate(steps) if "command -v nvidia-smi" in line)
    torch = next(i for i, line in enumerate(steps) if 'pip install --quiet "torch==2.13.0"' in line)
    package = next(i for i, line in enumerate(steps) if "pip install --quiet -e ." in line)
    run = next(i for i, line in enumerate(steps) if line.endswith("python -m bench"))
    assert gpu < torch < package < run  # the CPU wheel where no GPU answers, before the package; the run last
    # once set up, nothing is installed again: the stamps are newer than pyproject.toml
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    for stamp in (".torch-installed", ".bench-installed"):
        (venv / stamp).touch()
    again = _make_dry_run(tmp_path, "bench", "ARGS=task=cdsc_r")
    assert "pip install" not in again and again.strip().endswith("python -m bench task=cdsc_r")


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_test_installs_the_test_extra_and_runs_the_fast_tier(tmp_path):
    out = _make_dry_run(tmp_path, "test")
    assert 'pip install --quiet -e ".[test]"' in out
    assert out.strip().splitlines()[-1].endswith("python -m pytest -q")
    assert "HF_HUB_OFFLINE=1" in out.strip().splitlines()[-1]
    assert _make_dry_run(tmp_path, "test-all").strip() == "bash .ci/run"
    assert "ruff check bench tests benchmarks" in _make_dry_run(tmp_path, "lint")



# ------------------------------------------------------------------ every command of the README's quickstart works


def readme_quickstart() -> list[str]:
    """The command lines of the README's code blocks before its "Results" section (the guide's quickstart)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Results")[0]
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines += [re.split(r"\s+#\s", line)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line]


def _check_bench_command(argv: list[str], config_name: str) -> None:
    """The line as ``bench`` reads it: Hydra's parser, the names, the composed configuration (nothing run)."""
    from bench.launch.cli import check_composition, representative, rewrite_overrides

    argv = hydra_flags_first(argv)
    _hydra_parse(argv)
    check_composition(representative(rewrite_overrides(argv)), config_name)


def test_every_command_in_the_readme_quickstart_works(tmp_path, capsys):
    from importlib.metadata import metadata

    from bench.reports.compare import main as compare_main
    from bench.reports.leaderboard.__main__ import main as leaderboard_main
    from tests.leaderboard_fixtures import TASKS, similarities, targets_for, write_result

    results = tmp_path / "results"  # what bench-leaderboard and bench-compare read: minilm with two strategies
    for task in TASKS:
        targets = targets_for(task)
        for strategy, noise in (("sbert", 0.3), ("mean", 0.35)):
            write_result(results, "minilm", strategy, task, similarities(task, targets, noise, 1), targets)
    extras = metadata("polish-embedding-bench").get_all("Provides-Extra")
    configs = {"bench": "config", "bench.train": "finetune", "bench.cross": "crossencoder"}
    commands = readme_quickstart()
    assert any(c.startswith("make bench") for c in commands) and any(c.startswith("bench-compare") for c in commands)
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "make":
            if MAKE is not None:
                _make_dry_run(tmp_path, *argv[1:])
        elif argv[:2] == ["python", "-m"] and argv[2] in configs:
            _check_bench_command(argv[3:], configs[argv[2]])
        elif argv[0] == "bench":
            _check_bench_command(argv[1:], "config")
        elif argv[0] == "bench-leaderboard":
            assert leaderboard_main([*argv[1:], "--results", str(results)]) == 0
        elif argv[0] == "bench-compare":
            assert compare_main([*argv[1:], "--results", str(results), "--resamples", "20"]) == 0
            assert "A = minilm/sbert" in capsys.readouterr().out
        elif argv[:3] == ["python3", "-m", "venv"]:
            assert command == "python3 -m venv .venv && . .venv/bin/activate"
        elif argv[:2] == ["pip", "install"]:
            spec = argv[-1]
            if spec.startswith(".["):  # an extra of this package
                assert argv[2] == "-e" and spec.removeprefix(".[").removesuffix("]") in extras, command
            else:  # the wheel the Makefile installs where there is no GPU
                assert f"TORCH ?= {spec}" in (ROOT / "Makefile").read_text(), command
        else:
            pytest.fail(f"README quickstart command this test does not know how to check: {command}")


def test_the_readme_links_every_reference_page_and_each_exists():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)\)", text))
    assert linked == {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    for page in (ROOT / "docs").glob("*.md"):  # links between the pages too
        for target in re.findall(r"\]\(([\w.-]+\.md)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), (page.name, target)
    assert len(text.splitlines()) <= 170  # a guide, not the reference
