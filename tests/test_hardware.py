"""The machine description recorded in model cards, benchmark JSONs and the app header."""
from pathlib import Path

import torch

from percomp_ui.hardware import cpu_model, describe_device


def test_cpu_model_reads_the_model_name_line(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 7B13"


def test_cpu_model_falls_back_to_the_architecture_without_cpuinfo(tmp_path: Path) -> None:
    name = cpu_model(tmp_path / "missing")
    assert name and "model name" not in name


def test_describe_device_names_threads_processor_and_torch() -> None:
    text = describe_device("cpu", threads=3)
    assert text.startswith("cpu (3 threads of ")
    assert text.endswith(f"), torch {torch.__version__}")
    assert describe_device(torch.device("cpu")).startswith(f"cpu ({torch.get_num_threads()} threads of ")
