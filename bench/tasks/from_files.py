"""Reading the original distribution files (CDSCorpus, SICK-PL, PPC, STSb-multi-MT).

One generic delimited-file reader, driven by the task's ``local`` config: which columns the file
has, whether the first row is a header, whether fields may be quoted. Quoting is a real trap here:
PPC has double quotes inside unquoted tab-separated fields, so a quote-honouring reader merges
rows; its config says ``quoting: none``. STSb-multi-MT is real CSV with quoted fields.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from bench.digests import sha256_file
from bench.errors import DataError
from bench.tasks.schema import PairData
from bench.tasks.targets import TargetSpec, check_sentence, convert_targets

log = logging.getLogger(__name__)

QUOTING = {"none": csv.QUOTE_NONE, "csv": csv.QUOTE_MINIMAL}


@dataclass(frozen=True)
class FileFormat:
    """Layout of one task's files (see the ``local`` block of ``conf/task/*.yaml``)."""

    columns: tuple[str, ...]
    sentence1: str
    sentence2: str
    target: str
    delimiter: str = "\t"
    quoting: str = "none"
    has_header: bool = True

    def __post_init__(self) -> None:
        if self.quoting not in QUOTING:
            raise DataError(f"quoting must be one of {', '.join(QUOTING)}, got '{self.quoting}'")
        for name in (self.sentence1, self.sentence2, self.target):
            if name not in self.columns:
                raise DataError(f"column '{name}' is not among the declared columns {list(self.columns)}")


def _rows(path: Path, fmt: FileFormat) -> list[tuple[int, list[str]]]:
    """(line number, fields) for each data row, after checking the header and the field count. Line
    numbers are where a record starts (a quoted field may span lines)."""
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter=fmt.delimiter, quoting=QUOTING[fmt.quoting])
            try:
                for fields in reader:
                    line, start = start, reader.line_num + 1
                    if fmt.has_header and line == 1:
                        if tuple(f.strip().lstrip("\ufeff") for f in fields) != fmt.columns:
                            raise DataError(
                                f"{path}:1: unexpected header {fields}; expected the columns {list(fmt.columns)}."
                            )
                        continue
                    if not fields or fields == [""]:
                        continue  # blank line, e.g. a trailing newline
                    if len(fields) != len(fmt.columns):
                        raise DataError(
                            f"{path}:{line}: malformed row with {len(fields)} fields; expected {len(fmt.columns)} "
                            f"({', '.join(fmt.columns)}) separated by {fmt.delimiter!r}."
                        )
                    rows.append((line, fields))
            except csv.Error as exc:
                raise DataError(f"{path}:{start}: cannot parse the row starting here: {exc} (a quote opened on this "
                                f"line may run to line {reader.line_num}).") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}:{_first_bad_line(path)}: not valid UTF-8 text.") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc}).") from None
    if not rows:
        raise DataError(f"{path}: the file has no data rows.")
    return rows


def _first_bad_line(path: Path) -> int:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def read_pairs(path: Path, fmt: FileFormat, target: TargetSpec) -> PairData:
    """Read and validate one split file."""
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file.")
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    rows = _rows(path, fmt)
    index = {name: i for i, name in enumerate(fmt.columns)}
    wheres = [f"{path}:{line}" for line, _ in rows]
    s1 = [check_sentence(f[index[fmt.sentence1]], w, fmt.sentence1) for (_, f), w in zip(rows, wheres)]
    s2 = [check_sentence(f[index[fmt.sentence2]], w, fmt.sentence2) for (_, f), w in zip(rows, wheres)]
    raw = [f[index[fmt.target]] for _, f in rows]
    targets = convert_targets(raw, target, wheres)
    raw_labels = [r.strip() for r in raw] if target.kind == "label" else []
    source = {"kind": "local", "path": str(path), "sha256": sha256_file(path), "rows": len(rows)}
    return PairData(s1, s2, targets, raw_labels, source)


def read_split(root: Path, relative: str, fmt: FileFormat, target: TargetSpec, *, task: str, split: str) -> PairData:
    """Read ``root / relative``; a missing file names the task, split, and where it looked."""
    path = Path(root).expanduser() / relative
    if path.is_dir():
        raise DataError(f"task '{task}': the {split} file {path} is a folder, not a data file.")
    if not path.is_file():
        raise DataError(
            f"task '{task}': the {split} file is missing: looked for {path.resolve()} "
            f"(data.root={root}; expected the original layout, e.g. cdscorpus/, sick-pl/, ppc/, stsb-multi-mt/)."
        )
    data = read_pairs(path, fmt, target)
    log.debug("read %d pairs from %s", len(data), path)
    return data


def relative_paths(files: dict[str, str], **fields: str) -> dict[str, str]:
    """Fill ``{lang}``-style placeholders in the configured file names."""
    return {split: name.format(**fields) for split, name in files.items()}


def format_from_config(cfg: dict) -> FileFormat:
    return FileFormat(
        columns=tuple(cfg["columns"]),
        sentence1=cfg["sentence1"],
        sentence2=cfg["sentence2"],
        target=cfg["target"],
        delimiter=cfg["delimiter"],  # defaults: bench.config.LocalConfig
        quoting=cfg["quoting"],
        has_header=bool(cfg["has_header"]),
    )
