"""Will the model fit, and how? Checked before loading, so a 7B-14B model in fp32 is refused in a second with its
size and the memory there is, instead of after minutes of loading (or an out-of-memory kill halfway).

The size is the parameter count read from the safetensors headers (no tensor is read) times the bytes of the
encoding dtype; pickled weights count their file size (their stored dtype is unknown without unpickling them).
The memory is what the device has free now: ``torch.cuda.mem_get_info`` on a GPU, ``MemAvailable`` on a CPU,
capped by ``encode.max_memory`` (the most bench may take of each device, e.g. on a shared GPU).

Two placements, exclusive: one whole copy per listed device (one process, or data parallel: bench/encoding/parallel.py),
so each device must hold one; or, with ``encode.shard=true``, one copy spread over the listed devices by
accelerate's ``device_map`` (:func:`placement` gives its ``max_memory``), so their sum must hold it. A model that
fits one device runs as before; one that fits only spread over the devices is refused with how to ask for
sharding; one that fits nowhere is refused with its size and the free memory of every device, summed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from bench.errors import BenchError

log = logging.getLogger(__name__)

#: Room left beside the weights for activations, the tokenizer and the framework (a fraction of the weights).
OVERHEAD = 0.2
GIB = 1024**3


def parameter_bytes(folder: Path, files: tuple[str, ...], dtype: torch.dtype) -> int:
    """The weights' size in ``dtype``: safetensors tensors counted from their headers, pickled files by size."""
    from safetensors import safe_open

    itemsize = torch.empty((), dtype=dtype).element_size()
    total = 0
    for name in files:
        path = folder / name
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    numel = 1
                    for size in handle.get_slice(key).get_shape():
                        numel *= size
                    total += numel * itemsize
        else:
            total += path.stat().st_size
    return total


def available_bytes(device: str) -> int | None:
    """Free memory on the device now; None where it cannot be read (mps, a system without /proc)."""
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if device == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def memory_cap(value) -> int | None:
    """``encode.max_memory``: bytes (``1000``) or a size with a unit, as accelerate's ``max_memory`` takes it
    (``20GiB``, ``500MB``); None: no cap."""
    if value is None:
        return None
    from accelerate.utils import convert_file_size_to_int

    text = str(value).strip()
    try:
        size = int(text) if text.isdigit() else convert_file_size_to_int(text)
    except ValueError:
        size = 0
    if size <= 0:
        raise BenchError(f"encode.max_memory={value!r} is not a size: give bytes (e.g. 1000000000) or a size with a "
                         f"unit (20GiB, 500MB), or null for each device's free memory.")
    return size


def free_memory(devices: list[str], cap: int | None = None) -> dict[str, int | None]:
    """Each distinct device's free memory now, at most ``cap``; None where it cannot be read."""
    free = {}
    for device in dict.fromkeys(devices):
        found = available_bytes(device)
        free[device] = cap if found is None else (found if cap is None else min(found, cap))
    return free


def _size(count: float) -> str:
    """Three significant digits in the largest binary unit that is at least 1 (a tiny model is not 0.0 GiB)."""
    for unit, scale in (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} B"


def placement(name: str, need: int, dtype: torch.dtype, devices: list[str], free: dict[str, int | None],
              shard: bool = False) -> dict[str, int] | None:
    """Where the model goes, decided from its weights' size ``need`` (bytes in ``dtype``) and each device's free
    memory: None for one whole copy per listed device (as without sharding), or, with ``shard``, the memory each
    device may give the weights of one spread copy (accelerate's ``max_memory``: its free memory less the room to
    run). Refused, with the sizes, when the placement asked for cannot hold the model."""
    wanted = need * (1 + OVERHEAD)
    kind = str(dtype).removeprefix("torch.")
    half = "" if dtype != torch.float32 else " encode.half=true (bf16/fp16 on GPU) halves it;"
    weights = f"model '{name}' needs about {_size(need)} of weights in {kind}"
    distinct = list(dict.fromkeys(devices))
    known = {d: f for d, f in free.items() if f is not None and d in distinct}
    together = f"{', '.join(f'{d} {_size(f)}' for d, f in known.items())}: {_size(sum(known.values()))} free together"
    if shard:
        if len(distinct) < len(devices):
            raise BenchError(f"encode.shard=true spreads one copy of the model over distinct devices, but "
                             f"encode.devices={devices} names one memory twice; list each device once.")
        unknown = [d for d in distinct if free.get(d) is None]
        if unknown:
            raise BenchError(f"encode.shard=true needs each device's free memory, and {', '.join(unknown)} does not "
                             f"report it; shard over cuda and cpu devices, or set encode.max_memory.")
        if wanted > sum(known.values()):
            raise BenchError(f"{weights} ({_size(wanted)} with room to run), more than the devices it would be "
                             f"spread over have ({together}).{half} or add devices to encode.devices.")
        return {d: int(f / (1 + OVERHEAD)) for d, f in known.items()}
    for device in distinct:
        copies = devices.count(device)  # [cpu, cpu]: two copies in the same memory
        available = free.get(device)
        if available is None or wanted * copies <= available:
            continue
        short = (f"{weights} ({_size(wanted * copies)} with room to run{f', {copies} copies' if copies > 1 else ''}) "
                 f"but {device} has {_size(available)} free.")
        if len(known) > 1 and wanted <= sum(known.values()):
            raise BenchError(f"{short} It fits spread over the devices ({together}): add encode.shard=true to load "
                             f"one copy over {', '.join(distinct)} instead of one copy per device.")
        several = (" encode.devices=[cuda:0,cuda:1,...] encode.shard=true spreads one copy over several GPUs;"
                   if len(known) == 1 and device.startswith("cuda") else "")
        everywhere = f" All devices: {together}." if len(known) > 1 else ""
        raise BenchError(f"{short}{everywhere}{half}{several} or use a device with more memory.")
    return None


def check_fits(resolved, devices: list[str], dtype: torch.dtype, *, shard: bool = False,
               cap: int | None = None) -> dict[str, int] | None:
    """Before loading: the model's :func:`placement` on these devices now (None: a whole copy on each)."""
    need = parameter_bytes(resolved.path, resolved.weights.files, dtype)
    placed = placement(resolved.spec.name, need, dtype, devices, free_memory(devices, cap), shard)
    log.info("model weights: %s in %s%s", _size(need), str(dtype).removeprefix("torch."),
             f", spread over {', '.join(placed)}" if placed else "")
    return placed


def accelerate_memory(placed: dict[str, int]) -> dict[int | str, int]:
    """bench's device names as accelerate's ``max_memory`` keys: a GPU by its index, ``cpu`` as is."""
    out: dict[int | str, int] = {}
    for device, size in placed.items():
        if device.startswith("cuda"):
            index = torch.device(device).index
            out[torch.cuda.current_device() if index is None else index] = size
        else:
            out[device] = size
    return out
