"""Command-line conveniences in front of Hydra.

Before Hydra runs, :func:`check_command_line` reads the overrides with Hydra's own parser (so the whole
grammar works: ``a,b``, ``choice()``, ``range()``, ``glob()``, interpolations, ``+``/``~``) and:

* turns ``model=ORG/NAME`` or ``model=./path`` (anything that is not a config name but looks like a
  hub id or a path) into ``model=hf model.name_or_path=...``;
* rejects unknown names in the config groups with the valid choices and a "did you mean" (every value
  of a sweep is checked);
* composes the config once, as Hydra will, and turns an unknown key (``encode.batchsize=8``,
  ``+pooling.layer=[-2]``) or a value of the wrong type (``encode.batch_size=2.5``) into one line with
  the valid keys, instead of Hydra's message.

Every such error prints ``error: ...`` and exits with status 2, without a traceback.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.config import CONF_DIR, VERSION_BASE, group_choices
from bench.errors import BenchError, unknown_choice

CHECKED_GROUPS = ("model", "pooling", "task", "compression", "probe", "train", "experiment")
#: Hydra's own flags that take a value (the value is not an override).
FLAGS_WITH_VALUE = ("--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                    "--config-dir", "-cd", "--shell-completion", "-sc", "--experimental-rerun")
#: Hydra's modes: one per command line.
MODE_NAMES = {"-m": "multirun", "--multirun": "multirun", "--cfg": "cfg", "-c": "cfg", "--info": "info", "-i": "info"}
#: Hydra's ``--info`` takes an optional value, one of these.
INFO_FLAGS, INFO_CHOICES = ("--info", "-i"), ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")


def _looks_like_model_ref(value: str) -> bool:
    return "/" in value or value.startswith((".", "~")) or os.path.isdir(os.path.expanduser(value))


def _override_args(argv: Sequence[str]) -> list[tuple[int, str]]:
    """(position, text) of the overrides among the command-line arguments."""
    out, skip = [], False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in FLAGS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-") and ("=" in arg or arg.startswith("~")):
            out.append((index, arg))
    return out


def hydra_flags_first(argv: Sequence[str]) -> list[str]:
    """The command line with Hydra's flags (and their values) moved before the overrides, order otherwise kept.

    Hydra's argument parser reads the overrides as one positional list, so an override after a flag
    (``python -m bench pooling=cls -m task=cdsc_r``) dies with "unrecognized arguments"; users write ``-m``
    anywhere."""
    flags, overrides = [], []
    index = 0
    while index < len(argv):
        arg = argv[index]
        takes = arg in FLAGS_WITH_VALUE or (arg in INFO_FLAGS and index + 1 < len(argv)
                                            and argv[index + 1] in INFO_CHOICES)
        if arg.startswith("-") and not arg.startswith("~"):
            flags.extend(argv[index:index + 2] if takes else [arg])
            index += 2 if takes else 1
            continue
        overrides.append(arg)
        index += 1
    return flags + overrides


def _parse(arg: str):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(arg)
    except Exception as exc:
        raise BenchError(f"cannot read the override '{arg}': {str(exc).splitlines()[0]}") from None


def override_values(override, choices: list[str]) -> list:
    """Every value a (sweep) override stands for; a glob is matched against the group's choices."""
    from hydra.core.override_parser.types import Glob, ValueType

    if not override.is_sweep_override():
        return [override.value()]
    if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
        glob: Glob = override.value()
        matched = glob.filter(choices)
        if not matched:
            raise BenchError(f"{override.input_line} matches none of the {override.key_or_group} names: "
                             f"{', '.join(choices)}.")
        return matched
    if override.value_type in (ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP, ValueType.RANGE_SWEEP):
        return list(override.sweep_string_iterator())
    raise BenchError(f"{override.input_line}: an interval sweep needs a sweeper that samples (e.g. Optuna); "
                     f"bench's sweeps take lists, choice(), range() and glob().")


def rewrite_overrides(argv: Sequence[str], conf_dir: Path = CONF_DIR) -> list[str]:
    """The command line with group names checked and ``model=<hub id or path>`` rewritten."""
    out = list(argv)
    inserted = 0
    for index, arg in _override_args(argv):
        override = _parse(arg)
        group = override.key_or_group
        if group not in CHECKED_GROUPS or override.is_delete() or override.package:
            continue
        choices = group_choices(group, conf_dir)
        values = override_values(override, choices)
        unknown = [v for v in values if v is not None and str(v) not in choices]
        if not unknown:
            continue
        if group == "model" and not override.is_sweep_override() and _looks_like_model_ref(str(values[0])):
            position = index + inserted
            out[position:position + 1] = ["model=hf", f"model.name_or_path={values[0]}"]
            inserted += 1
            continue
        error = unknown_choice(group, str(unknown[0]), choices)
        if group == "model":
            hint = (" To sweep over hub ids or folders, use model=hf model.name_or_path=org/a,org/b."
                    if override.is_sweep_override() else " A hub id (org/name) or a model folder also works.")
            error = BenchError(f"{error}{hint}")
        raise error
    return out


def representative(argv: Sequence[str]) -> list[str]:
    """One job's overrides from a command line: the first value of each sweep; Hydra's own settings left out."""
    out = []
    for _, arg in _override_args(argv):
        override = _parse(arg)
        key = override.key_or_group
        if key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue
        if override.is_sweep_override():
            choices = group_choices(key) if key in CHECKED_GROUPS else []
            arg = f"{override.get_key_element()}={override_values(override, choices)[0]}"
        out.append(arg)
    return out


KEY_IN_MESSAGE = re.compile(r"full_key: ([\w.]+)")


def check_composition(overrides: Sequence[str], config_name: str, conf_dir: Path = CONF_DIR):
    """Compose the config as Hydra will (and return it); an unknown key or a mistyped value becomes a BenchError."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), **VERSION_BASE):
            try:
                cfg = compose(config_name, overrides=list(overrides))
            except Exception as exc:
                raise _composition_error(exc, overrides, config_name) from None
    finally:
        GlobalHydra.instance().clear()
    check_composed(cfg, conf_dir)
    return cfg


def compose_checked(overrides: Sequence[str], config_name: str = "config"):
    """The composed config for these overrides, with the command line's checks and errors (:func:`check_composition`);
    works inside a running Hydra app too (:func:`bench.config.compose_config`). Used by the Python API."""
    from bench.config import compose_config

    try:
        cfg = compose_config(list(overrides), config_name)
    except BenchError:
        raise
    except Exception as exc:
        raise _composition_error(exc, overrides, config_name) from None
    check_composed(cfg)
    return cfg


def check_composed(cfg, conf_dir: Path = CONF_DIR) -> None:
    """A composed config: no key forced in (or written in a task file) that the schema lacks, no value left
    missing."""
    from omegaconf import OmegaConf

    from bench.config import check_keys

    check_keys(cfg, conf_dir=conf_dir)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if "model.name_or_path" in missing:
        raise BenchError("model=hf needs model.name_or_path=<hub id or model folder>; or write it directly: "
                         "python -m bench model=org/name (or model=/path/to/model).")
    if missing:
        raise BenchError(f"these settings have no value: {', '.join(missing)}; set them on the command line.")
    return cfg


def _composition_error(exc: Exception, overrides: Sequence[str], config_name: str) -> BenchError:
    text = " ".join(str(part) for part in (exc, exc.__cause__) if part)
    found = KEY_IN_MESSAGE.search(text)
    key = found.group(1) if found else None
    if key is None:
        return BenchError(f"the configuration cannot be composed: {text.splitlines()[0]}")
    given = next((o for o in overrides if o.lstrip("+~").split("=", 1)[0] == key), key)
    if "could not be converted" in text or "Value '" in text and "is not a valid" in text:
        detail = re.search(r"(Value '.*?' (?:of type '\w+' )?could not be converted to \w+|Value '.*?' is not a "
                           r"valid \w+)", text)
        return BenchError(f"{given}: wrong type ({detail.group(1) if detail else text.splitlines()[0]}).")
    if "is not a ListConfig, list or tuple" in text:  # pooling.layers=-2 for pooling.layers=[-2]
        value = given.split("=", 1)[1] if "=" in given else "..."
        return BenchError(f"{given}: wrong type ({key} takes a list: {key}=[{value}]).")
    from bench.config import valid_keys

    parent, _, leaf = key.rpartition(".")
    valid = valid_keys(parent)
    if leaf in valid:  # a known key with a value it cannot take: never "unknown setting"
        cause = next((line.strip() for line in str(exc.__cause__ or exc).splitlines() if line.strip()), text)
        return BenchError(f"{given}: {key} cannot take this value ({cause}).")
    close = difflib.get_close_matches(leaf, valid, n=1)
    hint = f" Did you mean '{(parent + '.') if parent else ''}{close[0]}'?" if close else ""
    where = f"under {parent}" if parent else "at the top level"
    return BenchError(f"unknown setting '{key}' ({given}).{hint} Valid keys {where}: {', '.join(valid)}.")


HELP = {
    "config": """bench: evaluate sentence embeddings on the Polish suite (CDSC-R, CDSC-E, SICK-R-PL, SICK-E-PL, PPC,
STSb-multi-MT pl) with MTEB's metrics, intervals and provenance; writes results/ and a leaderboard.

Usage: python -m bench [-m] [GROUP=CHOICE ...] [KEY=VALUE ...]

Examples:
  python -m bench data.root=../shared/data          embedded model (minilm), its own pipeline, the suite
  python -m bench model=herbert pooling=mean        a model config and an embedding strategy
  python -m bench model=org/name task=cdsc_r        any hub id (or model=/path/to/folder), one task
  python -m bench -m pooling=cls,mean,max           a sweep (also choice(), range(), glob(m*))
  python -m bench probe=nli                         a trained probe instead of zero-shot scoring
  python -m bench preflight=true -m experiment=polish_models    check every model and dataset, encode nothing

Main settings:
  data.root=DIR        the original data files (or export BENCH_DATA_ROOT=DIR); without it, the Hugging Face Hub
  paths.root=DIR       move every output (results, logs, cache, fine-tuned models) under DIR
  results_dir=DIR      where results and the leaderboard go (default results/)
  encode.device=auto   cpu | cuda | cuda:N | mps;  encode.batch_size=32;  encode.half=true (fp16/bf16 on GPU)
  compression=pca compression.dims=256        a compressed strategy
  overwrite=missing    keep results of identical settings (default) | always | never
  cache.dir=DIR        the embedding cache (default data/cache);  cache.enabled=false
  stats.bootstrap=1000 interval resamples;  seed=42

Offline: HF_HUB_OFFLINE=1 (or no network) uses the Hugging Face cache alone.
The full configuration: python -m bench --cfg job.  Hydra's own options: python -m bench --hydra-help.
""",
    "finetune": """bench.train: fine-tune a model as a siamese bi-encoder (sentence-transformers), select the checkpoint on
validation splits only, save it with its lineage, and evaluate it with the harness.

Usage: python -m bench.train [-m] [train=RECIPE] [train.KEY=VALUE ...] [any python -m bench setting]

Examples:
  python -m bench.train data.root=../shared/data                      CoSENT on CDSC-R train, 1 epoch
  python -m bench.train train=relatedness_all train.epochs=3          CDSC-R + SICK-R-PL + STSb-pl
  python -m bench.train model=herbert train.pooling=mean              a raw encoder gets a pooling
  python -m bench.train train.max_steps=20 train.evaluate_tasks=[cdsc_r]   a quick trial, one task evaluated

Main settings:
  train.loss=cosent    cosent | cosine | angle | softmax | mnrl;  train.matryoshka=[384,256,128]
  train.epochs, train.max_steps, train.batch_size, train.learning_rate, train.eval_steps, train.seed
  train.precision=auto auto | fp32 | bf16 | fp16
  train.evaluate_after=true  evaluate the saved model;  train.evaluate_tasks=[...] a subset (default: the suite)
  train.evaluate_base=true   the base model beside it
  train.keep=best      best: keep only the best checkpoint's model; all: every checkpoint as well
  train.output_dir=models    where models go;  train.resume=true continues an interrupted run

The full configuration: python -m bench.train --cfg job.
""",
    "crossencoder": """bench.cross: fine-tune a cross-encoder per task (both sentences in one input, a head on the encoder: the
reference bi-encoders are measured against), select on validation only, score it once on the same test pairs
with the same metrics and intervals; the leaderboard sets it beside the best bi-encoder with a paired test.

Usage: python -m bench.cross [-m] [cross=pairs|nli] [cross.KEY=VALUE ...] [any python -m bench setting]

Examples:
  python -m bench.cross data.root=../shared/data            every task: regression (relatedness), binary (pairs)
  python -m bench.cross cross=nli                           3-way NLI on CDSC-E and SICK-E-PL (original files)
  python -m bench.cross model=herbert task=cdsc_r cross.epochs=3
  python -m bench.cross cross.max_steps=50 task=cdsc_r      a quick trial

Main settings:
  cross.epochs, cross.max_steps, cross.batch_size, cross.learning_rate, cross.eval_steps, cross.seed
  cross.max_length=256 tokens of a pair;  cross.precision=auto auto | fp32 | bf16 | fp16
  cross.keep=best      best: keep only the selected model; all: the checkpoints as well

The full configuration: python -m bench.cross --cfg job.
""",
}


def help_text(config_name: str, conf_dir: Path = CONF_DIR) -> str:
    """bench's --help: what it does, examples, main settings, then the config groups and their choices."""
    groups = sorted(p.name for p in conf_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "hydra")))
    lines = [HELP[config_name], "Config groups (GROUP=CHOICE):"]
    for group in groups:
        if group in ("train", "cross") and group != {"finetune": "train", "crossencoder": "cross"}.get(config_name):
            continue
        lines.append(f"  {group:<12} {', '.join(group_choices(group, conf_dir))}")
    lines.append(f"  {'hydra/launcher':<12} basic (default), joblib, {', '.join(group_choices('hydra/launcher', conf_dir))}")
    return "\n".join(lines) + "\n"


def launch(hydra_main, config_name: str = "config") -> None:
    """Check and rewrite the command line, then start a Hydra entry point; a user error prints one line
    and exits with status 2."""
    argv = sys.argv[1:]
    if "--help" in argv or "-h" in argv:
        print(help_text(config_name), end="")
        sys.exit(0)
    argv = hydra_flags_first(argv)
    modes = [flag for flag in argv if flag in MODE_NAMES]
    if len({MODE_NAMES[flag] for flag in modes}) > 1:  # Hydra would raise a ValueError with a traceback
        print(f"error: {' and '.join(dict.fromkeys(modes))} cannot be combined: -m runs a sweep, --cfg prints the "
              f"configuration, --info prints Hydra's information; use one.", file=sys.stderr)
        sys.exit(2)
    try:
        argv = rewrite_overrides(argv)
        if not any(flag in argv for flag in ("--hydra-help", "--info", "-i", "--shell-completion", "-sc")):
            cfg = check_composition(representative(argv), config_name)
            if (cfg.get("results_dir") and not cfg.get("preflight")  # preflight writes nothing
                    and not any(flag in argv for flag in ("--cfg", "-c"))):
                from bench.atomic import check_writable_dir

                check_writable_dir(cfg.results_dir, "results_dir")  # before Hydra makes its run folder in it
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.argv[1:] = argv
    hydra_main()


def run_job(job: Callable, cfg, log: logging.Logger, records: Callable = lambda result: result or [],
            extra: Callable = lambda result: None):
    """The work of a Hydra job, with its report for the sweep summary (:mod:`bench.launch.sweep`).

    A :class:`BenchError` is logged as one line, without a traceback, and the process exits with status 2;
    in a multirun the job returns None instead (as does any other exception, logged with its traceback),
    so one bad combination does not end the sweep, and the summary at the end lists it as failed. A
    :class:`NotApplicable` combination in a multirun is reported as skipped: listed once, not a failure.
    ``extra(result)`` adds fields to the job's report (preflight's checks)."""
    from bench.errors import NotApplicable, exit_status
    from bench.launch.sweep import write_job_report

    folder = str(cfg.get("results_dir")) if cfg.get("results_dir") else None
    tolerate_unwritable_logs()
    try:
        result = job(cfg)
    except NotApplicable as exc:
        if not _in_multirun():
            log.error("%s", exc)
            write_job_report("failed", error=str(exc), results_dir=folder)
            sys.exit(2)
        log.warning("skipped: the combination does not apply (listed at the end of the sweep)")
        write_job_report("skipped", error=str(exc), results_dir=folder)
        return None
    except BenchError as exc:
        checks = getattr(exc, "checks", None)  # preflight's: listed once per model and data source at the end
        if checks is not None and _in_multirun():  # in the job's report; the summary lists each problem once
            log.debug("%s", exc)
        else:
            log.error("%s", exc)
        write_job_report("failed", error=str(exc), results_dir=folder,
                         extra={"checks": checks} if checks is not None else None)
        if _in_multirun():
            return None
        sys.exit(exit_status(exc))
    except Exception as exc:
        if not _in_multirun():
            raise
        log.exception("job failed")
        write_job_report("failed", error=f"{exc.__class__.__name__}: {exc} (traceback in the job's log)",
                         results_dir=folder)
        return None
    write_job_report("ok", records=records(result), results_dir=folder, extra=extra(result))
    return result


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def tolerate_unwritable_logs() -> None:
    """Hydra's log file on a disk that fills up: one warning, then the console alone, instead of a "Logging
    error" traceback at every line."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handleError = functools.partial(_drop_log_file, handler)


def _drop_log_file(handler: logging.FileHandler, record: logging.LogRecord) -> None:
    error = sys.exc_info()[1]
    if not isinstance(error, OSError):
        return logging.FileHandler.handleError(handler, record)
    logging.getLogger().removeHandler(handler)
    with contextlib.suppress(OSError):
        handler.close()
    logging.getLogger("bench").warning("the log file %s cannot be written (%s); logging to the console only.",
                                       handler.baseFilename, error.strerror or error)
