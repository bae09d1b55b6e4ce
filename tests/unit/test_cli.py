import os
import subprocess
import sys
from pathlib import Path

from sitehub import cli

REPO = Path(__file__).resolve().parents[2]


def test_quiet_warnings_adds_the_filter_once() -> None:
    env = {"PYTHONWARNINGS": "default"}
    cli.quiet_warnings(env)
    cli.quiet_warnings(env)
    assert env["PYTHONWARNINGS"] == f"default,{cli.QUIET_WARNINGS}"
    empty: dict[str, str] = {}
    cli.quiet_warnings(empty)
    assert empty["PYTHONWARNINGS"] == cli.QUIET_WARNINGS


def test_validate_prints_no_deprecation_noise() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    result = subprocess.run(
        [sys.executable, "-m", "sitehub.cli", "validate", str(REPO / "inventories" / "demo")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
