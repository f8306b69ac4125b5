"""The machine a benchmark ran on, recorded beside every result."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path


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


def provenance(
    benchmark: str, load_start: Sequence[float], *packages: str, env: str = ""
) -> dict[str, object]:
    """The header of a result file: what ran, when, the command (``env`` first), the machine.

    ``load_start`` is the load average taken before the benchmark started its own services.
    """
    command = " ".join([Path(sys.executable).name, *sys.argv])
    return {
        "benchmark": benchmark,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": f"{env} {command}" if env else command,
        "machine": machine(*packages),
        "load_average_at_start": [round(x, 2) for x in load_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
