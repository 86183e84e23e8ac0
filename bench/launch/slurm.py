"""Hydra launchers for SLURM (and submitit's local executor) that wait for every job and never end a sweep
early.

Hydra's submitit launcher waits for the jobs' results in submission order and raises on the first job that
died without one (``scancel``, out of time, out of memory, node failure): the sweep stops with a traceback,
the other jobs go on running after the command has returned, and bench's end-of-sweep summary
(:class:`bench.launch.sweep.Reports`) never runs. :class:`WaitForEveryJob` is the ``launch`` of a launcher that
submits exactly as Hydra's ``SlurmLauncher`` does (same config, same job array, same ``.submitit/`` folder),
then:

* waits for every job of the array (result files checked every second or so, ``sacct`` at least every
  ``BENCH_SLURM_POLL_S`` seconds, default 15);
* turns a job that ended without a result into an ordinary return (status COMPLETED, value None) and writes
  a failed ``bench_job.json`` into that job's Hydra folder (``<hydra.sweep.dir>/<hydra.sweep.subdir>``) with
  the SLURM job id, its final accounting state (CANCELLED, TIMEOUT, OUT_OF_MEMORY, FAILED, NODE_FAIL...)
  and the job's submitit log, so the summary lists it and the command exits with status 1;
* does the same for a job whose Python raised outside bench's own error handling (submitit's
  FailedJobError, or Hydra's FAILED job status), keeping the report the job wrote itself when there is one.

Results already written stay (they are written atomically), and ``overwrite=missing`` makes a rerun of the
same command compute only what is missing.

Hydra instantiates launchers only from its plugin namespace package ``hydra_plugins`` (any other
``_target_`` is refused: "not the hydra_plugins package"), so the launcher classes themselves,
``BenchSlurmLauncher`` and ``BenchLocalLauncher``, are declared in ``hydra_plugins/bench_launchers`` (mixing
:class:`WaitForEveryJob` into the plugin's ``SlurmLauncher`` and ``LocalLauncher``), which also calls
:func:`register_configs` when Hydra's plugin scan imports it, before any config is composed:
``hydra/launcher=bench_slurm`` and ``bench_local`` are the plugin's ``submitit_slurm`` and ``submitit_local``
(SlurmQueueConf, LocalQueueConf: every option kept) with these classes as ``_target_``;
conf/hydra/launcher/slurm_cpu.yaml and slurm_gpu.yaml build on ``bench_slurm``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore

log = logging.getLogger("bench.launch.slurm")

#: Seconds between forced accounting updates (one ``sacct`` call for all the sweep's jobs) while waiting.
POLL_S = float(os.environ.get("BENCH_SLURM_POLL_S", "15"))
#: SLURM states after which a job does not run again (sacct's State column, first word).
FINAL_STATES = ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT")
#: What to change before rerunning, by final state.
HINTS = {"TIMEOUT": "more time: hydra.launcher.timeout_min (now {timeout_min})",
         "OUT_OF_MEMORY": "more memory: hydra.launcher.mem_gb (now {mem_gb})",
         "DEADLINE": "an earlier start or more time"}
#: What submitit raises in a job when SLURM's warning signal (signal_delay_s before the limit) comes and the job
#: cannot be requeued: the job stops itself, and accounting says COMPLETED rather than TIMEOUT.
SUBMITIT_TIMED_OUT = "Job not requeued because: timed-out"
#: How long a job's result file may take to appear after the job ended (a network filesystem's attribute cache),
#: when the job ended by itself (COMPLETED, FAILED: submitit writes the result first); SLURM killed the others.
RESULT_GRACE_S = 15.0
KILLED_GRACE_S = 2.0
#: Where Hydra's plugin scan finds the launcher classes (hydra_plugins/bench_launchers/__init__.py).
PLUGIN_MODULE = "hydra_plugins.bench_launchers"


def register_configs(module: str = PLUGIN_MODULE) -> None:
    """``hydra/launcher=bench_slurm`` and ``bench_local``: Hydra's ``submitit_slurm`` and ``submitit_local``
    (SlurmQueueConf, LocalQueueConf, every option kept) with the launchers of ``module`` as ``_target_``.

    Defaults lists rather than subclasses of the plugin's config classes: Hydra's plugin scan executes the
    plugin's modules once more, so a class imported before the scan is not the one the scan registers, and
    a subclass of it would not merge with configs typed by the new one."""
    store = ConfigStore.instance()
    for name, base, launcher in (("bench_slurm", "submitit_slurm", "BenchSlurmLauncher"),
                                 ("bench_local", "submitit_local", "BenchLocalLauncher")):
        store.store(group="hydra/launcher", name=name, provider="bench",
                    node={"defaults": [base, "_self_"], "_target_": f"{module}.{launcher}"})


def sacct_record(job_id: str) -> dict[str, str]:
    """The accounting record of one job (``A_T`` for an array task), or {} when sacct has none (yet)."""
    fields = ("State", "ExitCode", "Elapsed", "Timelimit", "NodeList")
    try:
        out = subprocess.run(["sacct", "-j", job_id, "-X", "-n", "-P", "-o", ",".join(fields)],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        return {}
    record = dict(zip(fields, lines[-1].split("|")))
    record["State"] = (record.get("State") or "UNKNOWN").split()[0]  # "CANCELLED by 0" -> CANCELLED
    return record


def final_state(job, timeout: float = 20.0) -> dict[str, str]:
    """The job's final accounting record; sacct may lag the job's end by a few seconds, so it is asked again
    until the state is final (submitit's view of the state for local jobs, or when sacct has no record)."""
    from submitit.slurm.slurm import SlurmJob

    if not isinstance(job, SlurmJob):
        return {"State": str(job.state).split()[0].upper()}
    deadline = time.monotonic() + timeout
    record = sacct_record(job.job_id)
    while record.get("State") not in FINAL_STATES and time.monotonic() < deadline:
        time.sleep(1)
        record = sacct_record(job.job_id)
    return record or {"State": str(job.watcher.get_state(job.job_id, mode="force")).split()[0]}


def describe(job_id: str, record: dict[str, str], outcome: str, params: dict[str, Any]) -> str:
    """``SLURM job 12_3 TIMEOUT without a result (ran 00:01:02 of 00:01:00 on node7); rerun ... with more time``."""
    state = record.get("State", "UNKNOWN")
    details = []
    if record.get("Elapsed"):
        details.append(f"ran {record['Elapsed']}" + (f" of {record['Timelimit']}" if record.get("Timelimit") else "")
                       + (f" on {record['NodeList']}" if record.get("NodeList", "None assigned") != "None assigned"
                          else ""))
    if record.get("ExitCode", "0:0") != "0:0":
        details.append(f"exit code {record['ExitCode']}")
    text = f"SLURM job {job_id} {state} {outcome}" + (f" ({', '.join(details)})" if details else "")
    if state in HINTS:
        text += "; rerun the same command with " + HINTS[state].format(**params)
    return text


def signal_timeout_text(job_id: str, params: dict[str, Any], error: str) -> str:
    """A job that submitit stopped at SLURM's warning signal before its time limit, named as the timeout it is."""
    return (f"SLURM job {job_id} TIMEOUT: submitit stopped it at SLURM's warning signal, "
            f"hydra.launcher.signal_delay_s={params.get('signal_delay_s')} s before its limit of "
            f"{params.get('timeout_min')} min (accounting says COMPLETED); rerun the same command with "
            + HINTS["TIMEOUT"].format(**params) + f" [{error}]")


def last_error_line(error: BaseException) -> str:
    """The exception line of a job's traceback (submitit's FailedJobError carries the whole trace)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.startswith("-" * 10)]
    for line in reversed(lines):
        if "Error" in line and not line.startswith(("You can check full logs", "or at paths", "- /")):
            return line
    return lines[0] if lines else error.__class__.__name__


def has_result(job) -> bool:
    """Whether the job's result file is there (its folder's attributes refreshed first, as submitit does)."""
    folder = job.paths.folder
    try:
        folder.chmod(folder.stat().st_mode)
    except OSError:
        pass
    return job.paths.result_pickle.exists()


def read_report(folder: Path) -> dict | None:
    from bench.launch.sweep import JOB_REPORT

    try:
        return json.loads((folder / JOB_REPORT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class WaitForEveryJob:
    """``launch`` of Hydra's submitit launchers, waiting for every job and reporting the ones without a result
    (see the module's docstring). Mixed into the plugin's ``SlurmLauncher`` and ``LocalLauncher`` in
    hydra_plugins/bench_launchers."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int):
        import submitit
        from hydra.core.singleton import Singleton
        from hydra.core.utils import filter_overrides
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
        from omegaconf import OmegaConf

        assert self.config is not None and len(job_overrides) > 0
        # the executor and its parameters exactly as Hydra's BaseSubmititLauncher.launch builds them
        specific_init_keys = {"max_num_timeout"}
        init_params = {"folder": self.params["submitit_folder"],
                       **{f"{self._EXECUTOR}_{k}": v for k, v in self.params.items() if k in specific_init_keys}}
        init_keys = specific_init_keys | {"submitit_folder"}
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
        baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in baseparams else f"{self._EXECUTOR}_{k}": v
                                      for k, v in self.params.items() if k not in init_keys})

        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {self.config.hydra.sweep.dir}")
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))

        job_params = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*job_params))
        arrays = " ".join(sorted({job.job_id.split("_")[0] for job in jobs}))
        stop = f"scancel {arrays}"
        log.info("%d job(s) submitted (%s %s); waiting for every one of them%s", len(jobs), self._EXECUTOR, arrays,
                 f" ({stop} stops them)" if self._EXECUTOR == "slurm" else "")
        try:
            ended_without_result = self._wait(jobs)
        except KeyboardInterrupt:
            if self._EXECUTOR == "slurm":
                log.warning("interrupted: the unfinished jobs go on running (%s stops them); rerunning the same "
                            "command computes only the results still missing", stop)
            raise
        for job in jobs:  # submitit would wait RESULT_GRACE_S for each missing result file, one job after another
            seen, state = ended_without_result.get(job.job_id, (None, ""))
            if seen is not None:
                grace = RESULT_GRACE_S if state.startswith(("COMPLETED", "FAILED")) else KILLED_GRACE_S
                while not has_result(job) and time.monotonic() < seen + grace:
                    time.sleep(0.5)
                job._results_timeout_s = 0
        return [self._job_return(job, list(overrides), idx)
                for idx, (job, overrides) in enumerate(zip(jobs, job_overrides), start=initial_job_idx)]

    def _wait(self, jobs: list) -> dict[str, tuple[float, str]]:
        """Until every job has a result file or a final state in accounting; a job that ends without a result
        is logged when it is seen. Returns when each of those was seen (``time.monotonic()``) and its state."""
        pending, ended_without_result = list(jobs), {}
        last_forced = last_progress = time.monotonic()
        while pending:
            still = []
            for job in pending:
                if not job.done():
                    still.append(job)
                elif not job.paths.result_pickle.exists():
                    ended_without_result[job.job_id] = (time.monotonic(), str(job.state).upper())
                    if not str(job.state).upper().startswith("COMPLETED"):  # (COMPLETED: its result file may lag)
                        log.warning("job %s ended without a result (%s); waiting for the others", job.job_id,
                                    job.state)
            pending = still
            if not pending:
                return ended_without_result
            now = time.monotonic()
            if now - last_forced >= POLL_S:  # one sacct call refreshes every job of the sweep
                pending[0].done(force_check=True)
                last_forced = now
            if now - last_progress >= 300:
                log.info("%d of %d job(s) finished", len(jobs) - len(pending), len(jobs))
                last_progress = now
            time.sleep(min(10.0, 1.0 + len(pending) / 100))  # each round looks at every pending job's result file
        return ended_without_result

    def _job_return(self, job, overrides: list[str], idx: int):
        from hydra.core.utils import JobReturn, JobStatus
        from submitit.core.utils import FailedJobError, UncompletedJobError

        try:
            result = job.results()[0]
        except Exception as exc:  # any job without a usable result is a failed job of the sweep, not a crash
            record = final_state(job)
            if isinstance(exc, UncompletedJobError):  # killed: scancel, time or memory limit, node failure
                reason = describe(job.job_id, record, "without a result", self.params)
            elif SUBMITIT_TIMED_OUT in str(exc):  # the warning signal came while Hydra, not bench, ran
                reason = signal_timeout_text(job.job_id, self.params, last_error_line(exc))
            elif isinstance(exc, FailedJobError):  # the job's Python raised outside bench's own handling
                reason = describe(job.job_id, record, f"after an error: {last_error_line(exc)}", self.params)
            else:  # a result file that cannot be read
                reason = describe(job.job_id, record, f"with an unreadable result: {exc.__class__.__name__}: {exc}",
                                  self.params)
            self._report_failure(job, overrides, idx, reason, record)
            return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=None,
                             working_dir=os.getcwd(), task_name=self._task_name())
        if not isinstance(result, JobReturn):
            return result
        failed = result.status == JobStatus.FAILED  # an exception escaped the task function
        error = f"{result._return_value.__class__.__name__}: {result._return_value}" if failed else None
        folder = self._job_folder(overrides, idx, job.job_id, result)
        report = read_report(folder)
        own = report if report and report.get("job", {}).get("id") == job.job_id else None  # this submission's
        own_error = str(own.get("error")) if own and own.get("status") != "ok" else ""
        if SUBMITIT_TIMED_OUT in f"{error} {own_error}":
            # submitit's exception at SLURM's warning signal, caught by bench or by Hydra: say it in SLURM's terms
            self._report_failure(job, overrides, idx, signal_timeout_text(job.job_id, self.params, error or own_error),
                                 final_state(job), folder=folder, keep_error=False)
        elif failed and not own_error:  # bench.launch.sweep.Reports.on_job_end did not report it
            self._report_failure(job, overrides, idx, f"job {job.job_id}: {error}", folder=folder)
        if failed:
            log.error("job %s (#%d) failed: %s", job.job_id, idx, error)
            return dataclasses.replace(result, status=JobStatus.COMPLETED, _return_value=None)
        return result

    def _task_name(self) -> str | None:
        from hydra.core.utils import JobRuntime

        try:
            return JobRuntime.instance().get("name")
        except KeyError:
            return None

    def _sweep_config(self, overrides: list[str], idx: int, job_id: str):
        """The job's own config as the job composes it (its folder, results_dir and overrides), or None."""
        from omegaconf import open_dict

        try:
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg.hydra.job):
                cfg.hydra.job.id = job_id
                cfg.hydra.job.num = idx
            return cfg
        except Exception as exc:  # the report still goes to <sweep dir>/<job num>
            log.warning("cannot compose job #%d's config (%s); its report goes to <sweep dir>/%d", idx, exc, idx)
            return None

    def _job_folder(self, overrides: list[str], idx: int, job_id: str, result=None, cfg=None) -> Path:
        """The folder Hydra gives the job: ``<hydra.sweep.dir>/<hydra.sweep.subdir>``."""
        from omegaconf import OmegaConf

        if result is not None and result.hydra_cfg is not None:
            found = OmegaConf.select(result.hydra_cfg, "hydra.runtime.output_dir", default=None)
            if found:
                return Path(str(found))
        cfg = cfg if cfg is not None else self._sweep_config(overrides, idx, job_id)
        if cfg is not None:
            try:
                return Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
            except Exception:  # an unresolvable subdir: Hydra's default layout
                pass
        return Path(str(self.config.hydra.sweep.dir)) / str(idx)

    def _report_failure(self, job, overrides: list[str], idx: int, reason: str, accounting: dict | None = None,
                        folder: Path | None = None, keep_error: bool = True) -> Path:
        """A failed ``bench_job.json`` in the job's folder (the keys bench's own reports have), unless the job
        wrote a report of its own in this submission (same SLURM job id) that says ok: then bench finished
        (results are written atomically) and only the end of the job was lost, and that report stays."""
        from bench.atomic import write_text_atomic
        from bench.launch.sweep import JOB_REPORT

        cfg = self._sweep_config(overrides, idx, job.job_id)
        folder = folder or self._job_folder(overrides, idx, job.job_id, cfg=cfg)
        report = read_report(folder)
        own = report if report and report.get("job", {}).get("id") == job.job_id else None
        if own and own.get("status") == "ok":
            log.warning("job %s (#%d): %s; its own report says its work was done, so it stays", job.job_id, idx,
                        reason)
            return folder / JOB_REPORT
        error = f"{reason}; log: {job.paths.stdout}"
        if keep_error and own and own.get("error"):
            error += f"; the job reported: {own['error']}"
        array_id, _, task_id = job.job_id.partition("_")
        slurm = self._EXECUTOR == "slurm"
        new = {
            "status": "failed", "error": error,
            "job": {"num": idx, "id": job.job_id,
                    "overrides": list(cfg.hydra.overrides.task) if cfg is not None else list(overrides)},
            "results_dir": str(cfg.results_dir) if cfg is not None and cfg.get("results_dir") else None,
            "cluster": {**({"SLURM_JOB_ID": job.job_id, "SLURM_ARRAY_JOB_ID": array_id,
                            "SLURM_ARRAY_TASK_ID": task_id} if slurm else {"job_id": job.job_id}),
                        **((own or {}).get("cluster") or {}),
                        "log_stdout": str(job.paths.stdout), "log_stderr": str(job.paths.stderr)},
            "results": (own or {}).get("results", []),
            "accounting": accounting, "reported_by": "the launcher (bench.launch.slurm), after the job ended",
        }
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / JOB_REPORT, json.dumps(new, indent=2, ensure_ascii=False) + "\n")
        log.error("job #%d failed: %s", idx, error)
        return folder / JOB_REPORT
