"""Will the model fit? Checked before loading, so a 7B-14B model in fp32 is refused in a second with its size and
the memory there is, instead of after minutes of loading (or an out-of-memory kill halfway).

The size is the parameter count read from the safetensors headers (no tensor is read) times the bytes of the
encoding dtype; pickled weights count their file size (their stored dtype is unknown without unpickling them).
The memory is what the device has free now: ``torch.cuda.mem_get_info`` on a GPU, ``MemAvailable`` on a CPU.
Each process of data-parallel encoding holds a whole copy, so each device must hold one.
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


def check_fits(resolved, devices: list[str], dtype: torch.dtype) -> None:
    """Refuse, before loading, a model whose weights (plus room to run) exceed a device's free memory."""
    need = parameter_bytes(resolved.path, resolved.weights.files, dtype)
    wanted = need * (1 + OVERHEAD)
    for device in dict.fromkeys(devices):
        free = available_bytes(device)
        copies = devices.count(device)  # [cpu, cpu]: two copies in the same memory
        if free is not None and wanted * copies > free:
            half = "" if dtype != torch.float32 else " encode.half=true (bf16/fp16 on GPU) halves it;"
            raise BenchError(
                f"model '{resolved.spec.name}' needs about {need / GIB:.1f} GiB of weights in "
                f"{str(dtype).removeprefix('torch.')} ({wanted * copies / GIB:.1f} GiB with room to run"
                f"{f', {copies} copies' if copies > 1 else ''}) but {device} has {free / GIB:.1f} GiB free.{half} "
                f"or use a device with more memory (sharding one model across devices is not supported).")
    log.info("model weights: %.2f GiB in %s", need / GIB, str(dtype).removeprefix("torch."))
