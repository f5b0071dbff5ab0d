"""What a number was measured on: the processor's name and a one-line device description.

Model cards, benchmark JSONs and the app's header record the machine with these, so that a Kodak
curve or a latency can be traced to the hardware, thread count and torch version that produced it.
"""
from __future__ import annotations

import platform
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The processor's marketing name ("AMD EPYC", "Apple M2"…), else the architecture ("x86_64")."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass  # not Linux: platform's answer below
    return platform.processor() or platform.machine() or "unknown cpu"


def describe_device(device: torch.device | str, threads: int | None = None) -> str:
    """``cpu (2 threads of AMD EPYC), torch 2.14.1`` or ``cuda (NVIDIA H100 80GB HBM3), torch 2.14.1``."""
    device = torch.device(device)
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        what = f"{threads or torch.get_num_threads()} threads of {cpu_model()}"
    return f"{device.type} ({what}), torch {torch.__version__}"
