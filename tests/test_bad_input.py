"""Bad input gives a clear error naming the problem (file and line, valid choices), and no result."""

import subprocess
import sys

import pytest

from bench.errors import BenchError, DataError
from bench.launch.cli import rewrite_overrides
from bench.run import run
from bench.tasks.from_files import FileFormat, read_pairs
from bench.tasks.targets import TargetSpec
from tests.conftest import CONF_DIR, ROOT, write_sick_like

SICK = FileFormat(columns=("pair_ID", "sentence_A", "sentence_B", "relatedness_score", "entailment_judgment"),
                  sentence1="sentence_A", sentence2="sentence_B", target="relatedness_score")
SCORE = TargetSpec("score", score_range=(0.0, 5.0))
LABEL = TargetSpec("label", labels=("NEUTRAL", "CONTRADICTION", "ENTAILMENT"), positive=("ENTAILMENT",))
LABEL_FMT = FileFormat(**{**SICK.__dict__, "target": "entailment_judgment"})


def test_valid_file_reads(tmp_path):
    path = write_sick_like(tmp_path / "ok.txt", [(1, "Ala ma kota .", "Kot ma Alę .", 4.5, "ENTAILMENT")])
    data = read_pairs(path, SICK, SCORE)
    assert data.targets.tolist() == [4.5] and data.source["rows"] == 1


@pytest.mark.parametrize(
    ("row", "fmt", "target", "message"),
    [
        ((1, "Ala ma kota .", "Kot ma Alę .", 5.5, "NEUTRAL"), SICK, SCORE, r"bad.txt:3: score 5.5 is outside this task's range \[0.0, 5.0\]"),
        ((1, "Ala ma kota .", "Kot ma Alę .", "nan", "NEUTRAL"), SICK, SCORE, r"bad.txt:3: score is nan"),
        ((1, "Ala ma kota .", "Kot ma Alę .", "abc", "NEUTRAL"), SICK, SCORE, r"bad.txt:3: score 'abc' is not a number"),
        ((1, "Ala ma kota .", "  ", 1.0, "NEUTRAL"), SICK, SCORE, r"bad.txt:3: sentence_B is an empty sentence"),
        ((1, "Ala ma kota .", "Kot .", 1.0, "MAYBE"), LABEL_FMT, LABEL, r"bad.txt:3: unknown label 'MAYBE'; valid labels: NEUTRAL, CONTRADICTION, ENTAILMENT"),
        ((1, "Ala ma kota .", "Kot .", 1.0), SICK, SCORE, r"bad.txt:3: malformed row with 4 fields; expected 5"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, row, fmt, target, message):
    path = write_sick_like(tmp_path / "bad.txt", [(0, "Dobre zdanie .", "Inne zdanie .", 1.0, "NEUTRAL"), row])
    with pytest.raises(DataError, match=message):
        read_pairs(path, fmt, target)


def test_wrong_header(tmp_path):
    path = tmp_path / "h.txt"
    path.write_text("a\tb\tc\td\te\n1\tx\ty\t1\tNEUTRAL\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"h.txt:1: unexpected header"):
        read_pairs(path, SICK, SCORE)


def test_empty_file(tmp_path):
    path = write_sick_like(tmp_path / "empty.txt", [])
    with pytest.raises(DataError, match="no data rows"):
        read_pairs(path, SICK, SCORE)


def test_missing_data_file_says_where_it_looked(make_cfg, tmp_path):
    cfg = make_cfg("task=cdsc_r", f"data.root={tmp_path / 'nowhere'}")
    with pytest.raises(DataError, match=r"task 'cdsc_r': the test file is missing: looked for .*nowhere/cdscorpus/CDS_test_annotated.txt"):
        run(cfg)


def test_bad_data_writes_no_result(make_cfg, tiny_data_root, tiny_models, tmp_path):
    bad = tiny_data_root / "cdscorpus" / "CDS_test_annotated.txt"
    bad.write_text(bad.read_text(encoding="utf-8").replace("\t4.5\t", "\t7.0\t"), encoding="utf-8")
    cfg = make_cfg("model=hf", f"model.name_or_path={tiny_models['bert']}", "task=cdsc_r", "data.check_rows=false",
                   f"data.root={tiny_data_root}")
    with pytest.raises(DataError, match=r"CDS_test_annotated.txt:3: score 7.0 is outside"):
        run(cfg)
    assert not list((tmp_path / "results").glob("**/*.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model=herbrt"], "Unknown model 'herbrt'. Did you mean 'herbert'?"),
        (["pooling=maen"], "Unknown pooling 'maen'. Did you mean 'mean'?"),
        (["task=cdsc"], "Unknown task 'cdsc'"),
        (["-m", "pooling=cls,meen"], "Unknown pooling 'meen'"),
    ],
)
def test_unknown_names_list_valid_choices(args, message):
    with pytest.raises(BenchError) as info:
        rewrite_overrides(args, CONF_DIR)
    assert message in str(info.value)
    assert "Valid" in str(info.value)


def test_hub_id_or_path_becomes_generic_model(tmp_path):
    assert rewrite_overrides(["model=org/name", "pooling=cls"], CONF_DIR) == ["model=hf", "model.name_or_path=org/name", "pooling=cls"]
    assert rewrite_overrides([f"model={tmp_path}"], CONF_DIR) == ["model=hf", f"model.name_or_path={tmp_path}"]
    assert rewrite_overrides(["model=herbert,xlmr", "task=polish"], CONF_DIR) == ["model=herbert,xlmr", "task=polish"]


@pytest.mark.slow
def test_cli_user_error_has_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "pooling=maen"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert "Did you mean 'mean'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_cli_data_error_has_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "task=cdsc_r", f"data.root={tmp_path}", f"results_dir={tmp_path}/r",
         f"hydra.run.dir={tmp_path}/out", f"cache.dir={tmp_path}/cache"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    output = done.stdout + done.stderr
    assert "the test file is missing" in output and "Traceback" not in output


def test_sbert_needs_a_pipeline(make_cfg, tiny_models, tiny_data_root):
    cfg = make_cfg("model=herbert", "pooling=sbert", "task=cdsc_r", f"data.root={tiny_data_root}")
    with pytest.raises(BenchError, match="no sentence-transformers pipeline"):
        run(cfg)


def test_layers_do_not_apply_to_sbert(make_cfg):
    from bench.encoding.pooling import PoolingSpec

    with pytest.raises(BenchError, match="does not apply to 'sbert'"):
        PoolingSpec.from_config(make_cfg("pooling=sbert", "pooling.layers=[-2]").pooling)


def test_empty_or_nan_sentences_rejected_by_encoder():
    from bench.encoding.encode import check_texts

    with pytest.raises(BenchError, match="sentence 1 is empty"):
        check_texts(["ok", "   "])
    with pytest.raises(BenchError, match="sentence 0 is not text"):
        check_texts([float("nan")])


@pytest.mark.parametrize(
    ("override", "message"),
    [("stats.level=1.5", r"stats.level=1.5 is not valid: expected a confidence level between 0 and 1"),
     ("stats.bootstrap=-3", r"stats.bootstrap=-3 is not valid: expected an integer >= 0"),
     ("encode.batch_size=0", r"encode.batch_size=0 is not valid: expected an integer >= 1")],
)
def test_bad_settings_fail_before_any_work(make_cfg, tmp_path, override, message, monkeypatch):
    from bench import plan as plan_module

    monkeypatch.setattr(plan_module, "load_task", lambda *a, **k: pytest.fail("data was loaded before the check"))
    with pytest.raises(BenchError, match=message):
        run(make_cfg("task=cdsc_r", f"data.root={tmp_path}", override))
