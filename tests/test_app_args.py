"""``app.py``'s command line: the options reach the workbench, bad values are one-line usage errors."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def app_module():
    spec = importlib.util.spec_from_file_location("percomp_app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_and_refinement(app_module) -> None:
    args = app_module.parse_args([])
    assert (args.port, args.refine, args.device) == (7860, 0, "auto")
    assert app_module.parse_args(["--refine", "20"]).refine == 20


@pytest.mark.parametrize("argv, message", [
    (["--refine", "-1"], "--refine must be 0 or a positive number of steps"),
    (["--max-pixels", "0"], "--max-pixels must be a positive number of pixels"),
])
def test_bad_values_are_usage_errors(app_module, capsys: pytest.CaptureFixture[str], argv: list[str],
                                     message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        app_module.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
