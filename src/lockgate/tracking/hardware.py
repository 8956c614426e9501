"""Hardware samples: CPU, process memory, system memory, and GPU when one is visible."""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from typing import Any

import psutil


class HardwareSampler:
    """Takes one sample per call; GPU figures come from NVML or ``nvidia-smi`` if present."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # prime: the first reading is always 0

    def sample(self, run_id: str) -> dict[str, Any]:
        """A row for the ``hardware_samples`` table."""
        gpu_util, gpu_mem = gpu_usage()
        with self._process.oneshot():
            rss = self._process.memory_info().rss
            for child in _children(self._process):
                rss += child
        return {
            "run_id": run_id,
            "timestamp": time.time(),
            "cpu_percent": self._process.cpu_percent(None),
            "rss_bytes": rss,
            "system_memory_percent": psutil.virtual_memory().percent,
            "gpu_utilization": gpu_util,
            "gpu_memory_bytes": gpu_mem,
        }


def _children(process: psutil.Process) -> list[int]:
    sizes = []
    try:
        for child in process.children(recursive=True):
            try:
                sizes.append(child.memory_info().rss)
            except psutil.Error:
                continue
    except psutil.Error:
        pass
    return sizes


def gpu_usage() -> tuple[float | None, int | None]:
    """``(utilisation %, memory used bytes)`` summed over GPUs, or ``(None, None)``."""
    nvml = _nvml()
    if nvml is not None:
        try:
            util, used = 0.0, 0
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                util += float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                used += int(nvml.nvmlDeviceGetMemoryInfo(handle).used)
            return util, used
        except Exception:
            return None, None
    if _has_nvidia_smi():
        return _nvidia_smi()
    return None, None


@functools.lru_cache(maxsize=1)
def _nvml():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def _has_nvidia_smi() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    return _nvidia_smi() != (None, None)


def _nvidia_smi() -> tuple[float | None, int | None]:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout
        util, used_mib = 0.0, 0
        for line in out.strip().splitlines():
            a, b = (part.strip() for part in line.split(","))
            util += float(a)
            used_mib += int(float(b))
        return util, used_mib * 1024 * 1024
    except (OSError, subprocess.SubprocessError, ValueError):
        return None, None
