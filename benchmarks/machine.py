"""The machine a benchmark ran on, printed at the top of every benchmark's output: CPU model, cores,
the instruction-set flags that change which kernels torch can use, load average, torch's build."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# flags that matter for training speed on the CPU: AVX-512 kernels, bf16 dot products, AMX tiles
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def cpuinfo() -> tuple[str, set[str]]:
    """The CPU's model name and flags from /proc/cpuinfo (the platform's processor name elsewhere)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")[: 1 << 20]
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    return model, flags


def describe() -> str:
    """One line: model, usable cores, the flags that matter (present ones, and absent ones as -flag), load."""
    model, flags = cpuinfo()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    shown = " ".join(f if f in flags else f"-{f}" for f in FLAGS)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"cpu: {model}, {cores} usable cores, {os.cpu_count()} online; flags: {shown}; "
        f"{platform.system()} {platform.release()}; load average {load:.2f}"
    )


def header() -> str:
    """The machine line plus the OpenMP environment a benchmark started with."""
    env = (
        ", ".join(
            f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ
        )
        or "none set"
    )
    return f"{describe()}\nOpenMP environment of the benchmark process: {env}"


if __name__ == "__main__":
    print(header())
