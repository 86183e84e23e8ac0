"""Devices and numeric precision, one policy for encoding and training.

Encoding is fp32 unless half precision is asked for on a GPU (reference numbers are fp32 numbers).
Training is mixed precision with fp32 master weights: bf16 where the hardware has it (GPUs with bf16,
CPUs with AMX or AVX512-BF16), fp16 on other CUDA GPUs, fp32 elsewhere.
"""

from __future__ import annotations

import logging

import torch

from bench.errors import BenchError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def pick_device(requested: str = "auto") -> str:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind = requested.split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise BenchError(f"Unknown device '{requested}'. Valid devices: auto, cpu, cuda, cuda:N, mps.")
    if kind == "cuda" and not torch.cuda.is_available():
        raise BenchError("device=cuda was requested but no CUDA GPU is available; use device=auto or cpu.")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise BenchError("device=mps was requested but MPS is not available; use device=auto or cpu.")
    return requested


def pick_dtype(device: str, half: bool) -> torch.dtype:
    """fp32 unless half precision is asked for on a GPU (bf16 where supported, else fp16).

    fp32 is explicit because recent transformers may otherwise load a checkpoint in its stored dtype,
    and reference numbers are fp32 numbers.
    """
    if not half:
        return torch.float32
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    log.warning("encode.half=true is ignored on %s: half precision is only used on GPU.", device)
    return torch.float32


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 arithmetic in hardware (AMX or AVX512-BF16), where bf16 autocast is
    faster than fp32; elsewhere it is emulated and slower."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(check() for check in checks if check is not None)


def precision_flags(precision: str, device: str) -> dict:
    """auto: bf16 where the GPU supports it, else fp16 on CUDA; on CPU bf16 autocast when the CPU has
    bf16 in hardware, else fp32; fp32 on MPS. fp32 master weights throughout (mixed precision)."""
    if precision == "auto":
        if device.startswith("cuda"):
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif device == "cpu" and cpu_has_native_bf16():
            precision = "bf16"
        else:
            precision = "fp32"
    if precision == "fp16" and not device.startswith("cuda"):
        raise BenchError(f"train.precision=fp16 needs a CUDA GPU; this run is on {device} (valid here: auto, fp32"
                         f"{', bf16' if device == 'cpu' else ''}).")
    if precision == "bf16" and device == "mps":
        raise BenchError("train.precision=bf16 is not supported on mps; use auto or fp32.")
    if precision == "bf16" and device == "cpu" and not cpu_has_native_bf16():
        log.warning("train.precision=bf16 on a CPU without bf16 hardware is emulated and slower than fp32.")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16", "name": precision}
