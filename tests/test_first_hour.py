"""A new user's first hour: the command line as people write it, sweeps that tell skipped from failed."""

import shlex
import subprocess
import sys

import pytest

from bench.cli import HELP, hydra_flags_first
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
