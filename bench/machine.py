"""The machine a benchmark ran on, recorded beside every result."""

from __future__ import annotations

import importlib
import os
import platform
import sys


def machine(*packages: str) -> dict[str, object]:
    """CPU, cores, memory, load, Python and the versions of ``packages`` (importable names)."""
    with open("/proc/cpuinfo") as fh:
        models = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.import_module(name).__version__
        except (ImportError, AttributeError):
            versions[name] = "not installed"
    # Other work on a 2-core machine moves every figure: the load says how quiet it was.
    return {
        "cpu_model": models[0] if models else "unknown",
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
    }
