"""benchmarks/gpu_check.sh gives its table in one shot: each step under its own limit, a
failing or overrunning step costs its own row, and the end says which rows failed.

Run here with stand-ins for the GPU machine's programs (``nvidia-smi`` and the Python
that trains and times), at a fiftieth of its time limits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

FAKE_PYTHON = """#!/usr/bin/env bash
# What the GPU machine's python would do, decided by the step: a timing that fails
# (tf32), a training that outlasts its limit (gve), timings that append their row.
args="$*"
case "$args" in
    *checkout_site.py*) exec "{real}" "$@" ;;
    *"-m pytest"*) echo "11 passed"; exit 0 ;;
    *"train gve"*) sleep 20 ;;
    *tf32*) echo "RuntimeError: boom" >&2; exit 3 ;;
    *train_step.py*--table*)
        table=${{args##*--table }}
        echo "| card | $(echo "$args" | grep -o 'precision [a-z0-9]*') |" >>"$table"; exit 0 ;;
    *) echo "ran: $args"; exit 0 ;;
esac
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the script is for Linux GPU machines")
def test_the_gpu_check_reports_every_step_and_survives_failing_ones(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'NVIDIA H100, 81559 MiB, 550.0'\n")
    (bin_dir / "fake-python").write_text(FAKE_PYTHON.format(real=sys.executable))
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHON": str(bin_dir / "fake-python"),
        "GPU_CHECK_TIME_SCALE": "0.02",
    }
    out = tmp_path / "check"
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BUDGET_S=10" in done.stdout  # 490 s of limits, scaled
    rows = [line.split("\t") for line in (out / "status.tsv").read_text().splitlines()[1:]]
    states = {row[0]: row[1] for row in rows}
    assert states == {
        "versions": "ok",
        "site": "ok",
        "tests": "ok",
        "train_sc": "ok",
        "train_lrcn": "ok",
        "train_gve": "timeout",
        "step_fp32": "ok",
        "step_tf32": "failed",
        "step_bf16": "ok",
        "step_untrained": "ok",
        "step_eager": "ok",
    }
    table = (out / "table.md").read_text()
    assert "precision fp32" in table and "precision bf16" in table  # after the failures
    assert "precision fp32" in done.stdout  # the table is printed
    assert "NOT OK: train_gve (timeout), step_tf32 (failed)" in done.stdout
    (info,) = (out / "site").glob("gvetool-*.dist-info")
    assert "models = gvetool.builtins.models" in (info / "entry_points.txt").read_text()
