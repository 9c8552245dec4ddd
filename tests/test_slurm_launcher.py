"""The slurm launcher against a fake SLURM on PATH (tests/fake_slurm.py): the sbatch script
submitit writes, dependencies, a job killed for memory, preemption and requeue, Ctrl-C."""

from __future__ import annotations

import _thread
import json
import sys
import threading
import time
from pathlib import Path

import pytest

import gvetool
from gvetool.cli import main
from gvetool.utils.errors import GvetoolError

from .test_launchers import TINY_RUN

pytest.importorskip("submitit")

COMMANDS = ("sbatch", "sacct", "scancel", "scontrol", "squeue", "srun")


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """SLURM's commands on PATH, run by tests/fake_slurm.py; the folder of its records."""
    state, bin_dir = tmp_path / "slurm-state", tmp_path / "slurm-bin"
    state.mkdir()
    bin_dir.mkdir()
    script = Path(__file__).with_name("fake_slurm.py")
    for command in COMMANDS:
        wrapper = bin_dir / command
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" {command} "$@"\n')
        wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state))
    import gvetool.builtins.launchers.slurm as slurm

    monkeypatch.setattr(slurm, "POLL_SECONDS", 0.5)
    import submitit

    submitit.SlurmJob.watcher.clear()  # job ids restart at 1001 in every test's fake
    yield state
    submitit.SlurmJob.watcher.clear()


def _records(state: Path) -> list[dict]:
    return [json.loads(p.read_text()) | {"id": p.stem} for p in sorted(state.glob("*.json"))]


def _reproduce(root, out, *extra):
    args = ["reproduce", "--dataset", "cub", "--data-root", str(root), "--out", str(out)]
    return main([*args, "--models", "lrcn,gve", *TINY_RUN, "--launcher", "slurm", *extra])


def test_slurm_jobs_are_submitted_with_their_resources_after_what_they_need(
    tiny_cub_master, tmp_path, fake_slurm
):
    out = tmp_path / "runs"
    code = _reproduce(
        tiny_cub_master,
        out,
        "--partition",
        "gpu",
        "--gpus-per-job",
        "0",
        "--cpus-per-job",
        "2",
        "--mem-gb",
        "4",
        "--time-min",
        "30",
        "--sbatch",
        "--qos=high --exclusive",
    )
    assert code == 0
    records = {r["name"]: r for r in _records(fake_slurm)}
    assert set(records) == {"gvetool-sc", "gvetool-lrcn", "gvetool-gve"}
    assert all(r["state"] == "COMPLETED" for r in records.values())
    # the sentence classifier finished before the GVE job that reads it was submitted:
    # its result file (written when its command returned) is older than the submission.
    # Not SLURM's end time: the job's process may still be exiting when the launcher,
    # which reads the result file, submits the next job.
    directory = out / "reproduce-cub-seed0"
    result = directory / "jobs" / "slurm" / f"{records['gvetool-sc']['id']}_0_result.pkl"
    assert records["gvetool-gve"]["submitted"] > result.stat().st_mtime
    script = (fake_slurm / f"{records['gvetool-gve']['id']}.sbatch").read_text()
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=4GB",
        "#SBATCH --time=30",
        "#SBATCH --qos=high",
        "#SBATCH --exclusive",
        "#SBATCH --signal=USR2@90",
        "srun --unbuffered",
    ):
        assert line in script, line
    assert "--gpus-per-node" not in script
    table = json.loads((directory / "table.json").read_text())
    assert [row["status"] for row in table["rows"]] == ["finished", "finished"]
    assert "run:" in (directory / "jobs" / "gve.log").read_text()


def test_a_job_killed_for_memory_is_failed_and_the_jobs_needing_it_are_not_run(
    tiny_cub_master, tmp_path, fake_slurm, monkeypatch, capsys
):
    monkeypatch.setenv("FAKE_SLURM_OOM", "gvetool-sc")
    out = tmp_path / "runs"
    assert _reproduce(tiny_cub_master, out) == 1
    error = " ".join(capsys.readouterr().err.split())
    assert "sc failed (SLURM job 1001 OUT_OF_MEMORY" in error, error
    assert "gve not run (needs sc, which failed)" in error
    rows = {
        r["plugin"]: r
        for r in json.loads((out / "reproduce-cub-seed0" / "table.json").read_text())["rows"]
    }
    assert rows["lrcn"]["status"] == "finished" and rows["gve"]["status"] == "not run"
    assert [r["name"] for r in _records(fake_slurm)] == ["gvetool-sc", "gvetool-lrcn"]
    monkeypatch.delenv("FAKE_SLURM_OOM")
    assert _reproduce(tiny_cub_master, out) == 0  # the rerun submits what is missing
    names = [r["name"] for r in _records(fake_slurm)]
    assert names[2:] == ["gvetool-sc", "gvetool-gve"]  # lrcn had finished: not submitted
    lrcn = out / "reproduce-cub-seed0" / "lrcn"
    assert len(list(lrcn.glob("lrcn-*"))) == 1  # found finished, not trained again


def _when_running(state: Path, name: str, then, timeout: float = 120) -> None:
    """Once job ``name`` runs and its training process has started (its log exists),
    call ``then(record)``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in _records(state):
            if record.get("name") == name and record.get("state") == "RUNNING":
                log = Path(state.parent / "runs" / "reproduce-cub-seed0" / "jobs" / "lrcn.log")
                if log.is_file():
                    then(record)
                    return
        time.sleep(0.05)


def test_a_preempted_job_is_requeued_and_resumes(tiny_cub_master, tmp_path, fake_slurm):
    from .fake_slurm import scancel

    def preempt(record):
        time.sleep(1.0)  # let the run get going
        scancel([record["id"], "--signal", "USR2"])

    thread = threading.Thread(target=_when_running, args=(fake_slurm, "gvetool-lrcn", preempt))
    thread.start()
    out = tmp_path / "runs"
    args = [
        "reproduce",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--out",
        str(out),
        "--models",
        "lrcn",
        *TINY_RUN,
    ]
    code = main([*args, "--launcher", "slurm", "--epochs", "3"])
    thread.join()
    assert code == 0
    (record,) = [r for r in _records(fake_slurm) if r["name"] == "gvetool-lrcn"]
    assert record["attempts"] == 2 and record["state"] == "COMPLETED"
    runs = list((out / "reproduce-cub-seed0" / "lrcn").glob("lrcn-*"))
    assert len(runs) <= 1  # resumed in the same run folder (none if stopped at import)
    submitit_logs = (out / "reproduce-cub-seed0" / "jobs" / "slurm").glob("*.out")
    assert "Requeued" in "".join(path.read_text() for path in submitit_logs)


def test_ctrl_c_cancels_the_submitted_jobs_without_a_terminal_to_ask(
    tiny_cub_master, tmp_path, fake_slurm
):
    interrupt = lambda record: _thread.interrupt_main()  # noqa: E731  (Ctrl-C at the terminal)
    thread = threading.Thread(target=_when_running, args=(fake_slurm, "gvetool-lrcn", interrupt))
    thread.start()
    import gvetool

    with pytest.raises(KeyboardInterrupt):
        gvetool.reproduce(
            "cub",
            data_root=str(tiny_cub_master),
            out=str(tmp_path / "runs"),
            models=["lrcn"],
            epochs=50,
            hidden_size=8,
            embedding_size=8,
            batch_size=8,
            val_metrics="cider",
            launcher="slurm",
        )
    thread.join()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        (record,) = [r for r in _records(fake_slurm) if r["name"] == "gvetool-lrcn"]
        if record["state"] == "CANCELLED":
            break
        time.sleep(0.1)
    assert record["state"] == "CANCELLED"


def test_slurm_options_are_checked(fake_slurm):
    from gvetool.workflows.fanout import launcher_named

    with pytest.raises(GvetoolError, match="--sbatch 'qos=high': write long sbatch flags"):
        launcher_named("slurm", {"sbatch": "qos=high"}).executor(Path("x"))
    with pytest.raises(GvetoolError, match="--jobs is an option of the local launcher"):
        launcher_named("slurm", {"jobs": 2})


def test_cv_help_documents_every_launcher_option(capsys):
    from dataclasses import fields

    from gvetool.builtins.launchers.local import LocalOptions
    from gvetool.builtins.launchers.slurm import SlurmOptions

    assert main(["cv", "--launcher", "slurm", "--help"]) == 0
    shown = capsys.readouterr().out
    for option in (*fields(SlurmOptions), *fields(LocalOptions)):
        assert f"--{option.name.replace('_', '-')}" in shown, option.name
    assert "slurm: time limit per job in minutes" in " ".join(shown.split())


def test_a_job_with_several_gpus_trains_with_ddp_under_torchrun(tmp_path, fake_slurm):
    from gvetool.builtins.launchers.slurm import Slurm, SlurmOptions
    from gvetool.config.schema import TrainConfig
    from gvetool.workflows.jobs import Job

    launcher = Slurm(SlurmOptions(gpus_per_job=2, cpus_per_job=4))
    job = Job("gve", "explanation", TrainConfig(), tmp_path)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert launcher.argv(job) == [*torchrun, "-m", "gvetool.workflows.jobs", str(job.file)]
    assert launcher.executor(tmp_path).parameters["gpus_per_node"] == 2
    assert Slurm(SlurmOptions(gpus_per_job=1)).argv(job) == job.argv()


def test_slurm_without_a_cluster_is_one_line_before_anything_is_written(
    tiny_cub_master, tmp_path, monkeypatch, capsys
):
    empty = tmp_path / "no-slurm-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # submitit installed, no sbatch or srun
    out = tmp_path / "runs"
    args = ["cv", "--model", "lrcn", "--dataset", "cub", "--data-root", str(tiny_cub_master)]
    assert main([*args, "--out", str(out), "--folds", "2", "--launcher", "slurm"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: the slurm launcher submits through SLURM's sbatch and srun, which are not "
        "on PATH here; run it on a cluster's login node, or use --launcher local"
    )
    assert not out.exists()
    with pytest.raises(GvetoolError, match="the slurm launcher submits through SLURM's"):
        gvetool.cross_validate(
            "lrcn", dataset="cub", data_root=tiny_cub_master, out=out, folds=2, launcher="slurm"
        )
    assert not out.exists()
