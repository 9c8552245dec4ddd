"""Launchers: reproduce's and cv's runs as jobs, in this process or as parallel processes,
seed repeats as mean ± std, a failed job marked with its log and retried alone on rerun."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from gvetool.cli import main
from gvetool.config.schema import TrainConfig
from gvetool.utils.errors import GvetoolError
from gvetool.workflows.fanout import launcher_named, run_jobs, unfinished_error
from gvetool.workflows.jobs import FAILED, FINISHED, NOT_RUN, Job, write_jobs

from .test_train import _one_line

TINY_RUN = [
    "--epochs",
    "1",
    "--hidden-size",
    "8",
    "--embedding-size",
    "8",
    "--batch-size",
    "8",
    "--lr",
    "0.01",
    "--val-metrics",
    "cider",
    "--metrics",
    "cider",
]


def _reproduce(root: Path, out: Path, *extra: str) -> int:
    args = ["reproduce", "--dataset", "cub", "--data-root", str(root), "--out", str(out)]
    return main([*args, "--models", "lrcn,gve", *TINY_RUN, *extra])


def _job(tmp_path: Path, name: str, data_root: Path, after: tuple[str, ...] = ()) -> Job:
    config = TrainConfig(
        model="sc",
        dataset="cub",
        data_root=str(data_root),
        epochs=1,
        hidden_size=8,
        embedding_size=8,
        batch_size=8,
        out=str(tmp_path / "runs" / name),
    )
    return Job(name, name, config, tmp_path / "runs", after=after)


def test_jobs_must_have_unique_names_and_come_after_what_they_need(tmp_path):
    first = _job(tmp_path, "a", tmp_path)
    with pytest.raises(ValueError, match="two jobs are called 'a'"):
        write_jobs([first, first])
    with pytest.raises(ValueError, match="needs 'a', which does not come first"):
        write_jobs([_job(tmp_path, "b", tmp_path, after=("a",)), first])


def test_sequential_launcher_keeps_going_past_a_failed_job_and_skips_what_needs_it(
    tiny_cub_master, tmp_path
):
    jobs = [
        _job(tmp_path, "broken", tmp_path / "no-such-data"),
        _job(tmp_path, "needs-broken", tiny_cub_master, after=("broken",)),
        _job(tmp_path, "fine", tiny_cub_master),
    ]
    outcomes = run_jobs(jobs, launcher_named(None))
    assert [o.status for o in outcomes.values()] == [FAILED, NOT_RUN, FINISHED]
    assert "needs broken, which failed" in outcomes["needs-broken"].detail
    assert jobs[2].run_dir() is not None and jobs[1].run_dir() is None
    error = unfinished_error(outcomes)
    assert error is not None and str(error).startswith("2 of 3 jobs did not finish: broken failed")
    assert "rerun the same command to train only what is missing" in str(error)


def test_launcher_options_are_checked_against_the_launcher_chosen(capsys, tmp_path):
    with pytest.raises(GvetoolError, match="--jobs is an option of the local launcher"):
        launcher_named("sequential", {"jobs": 2})
    with pytest.raises(GvetoolError, match="did you mean 'jobs'"):
        launcher_named("local", {"job": 2})
    with pytest.raises(GvetoolError, match="--jobs 3 with 2 GPU"):
        launcher_named("local", {"jobs": 3, "gpus": "0,1"})
    with pytest.raises(GvetoolError, match="unknown launcher 'slurmm'"):
        launcher_named("slurmm")
    code = main(["reproduce", "--dataset", "cub", "--seeds", "0,x", "--out", str(tmp_path)])
    assert code == 1 and "--seeds '0,x': write whole numbers" in _one_line(capsys)


def test_a_launcher_table_in_the_config_file_chooses_the_launcher(tiny_cub_master, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('epochs = 1\n\n[launcher]\nname = "local"\njobs = 3\n')
    from gvetool.user_api.experiments import _launcher

    chosen = _launcher(config, None, None)
    assert type(chosen).__name__ == "Local" and chosen.slots == 3
    assert _launcher(config, None, {"jobs": 1}).slots == 1  # the arguments win
    from gvetool.config.toml_files import load_toml

    assert load_toml(config) == {"epochs": 1}  # not a run's setting


def test_reproduce_over_two_seeds_in_parallel_processes_gives_mean_and_std(
    tiny_cub_master, tmp_path
):
    out = tmp_path / "runs"
    assert (
        _reproduce(tiny_cub_master, out, "--seeds", "0,1", "--launcher", "local", "--jobs", "2")
        == 0
    )
    for seed in (0, 1):
        directory = out / f"reproduce-cub-seed{seed}"
        assert json.loads((directory / "table.json").read_text())["seed"] == seed
        assert (directory / "jobs" / f"seed{seed}-gve.log").is_file()  # each job's own log
    combined = out / "reproduce-cub-seeds0-1"
    table = json.loads((combined / "table.json").read_text())
    assert table["seeds"] == [0, 1]
    for row in table["rows"]:
        assert row["seeds"] == [0, 1]
        assert isinstance(row["mean"]["CIDEr"], float) and isinstance(row["std"]["CIDEr"], float)
    markdown = (combined / "table.md").read_text()
    assert "seeds 0, 1: mean ± std" in markdown and " ± " in markdown.split("| explanation |")[1]


def _kill_when_started(job_file: Path, killed: list[int]) -> None:
    """SIGKILL the process running ``job_file`` as soon as it appears (an OOM kill)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not killed:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if str(job_file).encode() in cmdline:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.02)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the job's process in /proc")
def test_a_killed_job_is_marked_failed_with_its_log_and_a_rerun_trains_only_it(
    tiny_cub_master, tmp_path, capsys
):
    out = tmp_path / "runs"
    directory = out / "reproduce-cub-seed0"
    killed: list[int] = []
    killer = threading.Thread(
        target=_kill_when_started, args=(directory / "jobs" / "gve.json", killed)
    )
    killer.start()
    code = _reproduce(tiny_cub_master, out, "--launcher", "local", "--jobs", "2")
    killer.join()
    assert killed and code == 1
    error = capsys.readouterr().err
    assert "1 of 3 jobs did not finish: gve failed (killed by SIGKILL" in " ".join(error.split())
    table = json.loads((directory / "table.json").read_text())
    rows = {row["plugin"]: row for row in table["rows"]}
    assert rows["lrcn"]["status"] == FINISHED and isinstance(rows["lrcn"]["CIDEr"], float)
    assert rows["gve"]["status"] == FAILED and rows["gve"]["CIDEr"] is None
    assert rows["gve"]["log"] == str(directory / "jobs" / "gve.log")
    assert "explanation (failed)" in (directory / "table.md").read_text()
    lrcn_runs = sorted((directory / "lrcn").glob("lrcn-*"))
    lrcn_log = (directory / "jobs" / "lrcn.log").read_text()
    capsys.readouterr()
    assert _reproduce(tiny_cub_master, out, "--launcher", "local", "--jobs", "2") == 0
    assert sorted((directory / "lrcn").glob("lrcn-*")) == lrcn_runs  # kept, not retrained
    assert (directory / "jobs" / "lrcn.log").read_text() == lrcn_log  # not even started
    err = capsys.readouterr().err
    assert "lrcn: already trained" in err and "gve: started" in err and "lrcn: started" not in err
    rows = {r["plugin"]: r for r in json.loads((directory / "table.json").read_text())["rows"]}
    assert rows["gve"]["status"] == FINISHED and isinstance(rows["gve"]["CIDEr"], float)


def test_cv_runs_its_folds_through_a_launcher_and_over_seeds(tiny_cub_master, tmp_path):
    out = tmp_path / "runs"
    args = [
        "cv",
        "--model",
        "lrcn",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--out",
        str(out),
        "--folds",
        "2",
        *TINY_RUN[:-2],
    ]
    assert main([*args, "--seeds", "3,4", "--launcher", "local", "--jobs", "2"]) == 0
    summary = json.loads((out / "cv-lrcn-cub-2fold-seeds3-4" / "cv.json").read_text())
    assert summary["complete_seeds"] == [3, 4]
    assert [s["seed"] for s in summary["per_seed"]] == [3, 4]
    assert set(summary["mean"]) == set(summary["per_seed"][0]["mean"])
    for seed in (3, 4):
        folds = json.loads((out / f"cv-lrcn-cub-2fold-seed{seed}" / "cv.json").read_text())
        assert [f["status"] for f in folds["per_fold"]] == [FINISHED, FINISHED]


def _docs_launcher() -> str:
    """The third-party launcher of docs/plugins.md, as written there."""
    text = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    section = text.split("### `gvetool_register_launchers(register)`", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]


@pytest.mark.skipif(shutil.which("nice") is None, reason="the example launcher runs nice(1)")
def test_the_documented_third_party_launcher_runs_reproduce(tiny_cub_master, tmp_path, fake_dist):
    fake_dist("gvetool-nice", "nice_launcher", _docs_launcher())
    import gvetool

    assert "nice" in gvetool.list_launchers()
    table = gvetool.reproduce(
        "cub",
        data_root=str(tiny_cub_master),
        out=str(tmp_path / "runs"),
        models=["lrcn"],
        metrics="cider",
        epochs=1,
        hidden_size=8,
        embedding_size=8,
        batch_size=8,
        val_metrics="cider",
        launcher="nice",
        launcher_options={"niceness": 5},
    )
    assert [row["status"] for row in table.rows] == [FINISHED]
    assert "run:" in (table.directory / "jobs" / "lrcn.log").read_text()
    with pytest.raises(GvetoolError, match="of the local launcher, not of 'nice'"):
        gvetool.reproduce(
            "cub", data_root=str(tiny_cub_master), launcher="nice", launcher_options={"jobs": 2}
        )


def test_ctrl_c_stops_the_local_jobs_resumably_and_a_rerun_finishes(tiny_cub_master, tmp_path):
    """Ctrl-C on the launching command: each running job is interrupted as Ctrl-C
    interrupts a run, the command exits 130, and the same command then finishes."""
    import subprocess
    import sys

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
        "--epochs",
        "40",
    ]
    command = [sys.executable, "-m", "gvetool", *args, "--launcher", "local", "--jobs", "2"]
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = out / "reproduce-cub-seed0" / "jobs" / "lrcn.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.is_file() and "epoch" in log.read_text()):
        time.sleep(0.1)
    launcher.send_signal(signal.SIGINT)
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, err.decode()[-2000:]
    assert "stopped; rerun to resume" in err.decode()
    for pid in filter(str.isdigit, os.listdir("/proc")):  # no job left running
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert str(log.with_suffix(".json")).encode() not in cmdline
    runs = list((out / "reproduce-cub-seed0" / "lrcn").glob("lrcn-*"))
    assert len(runs) == 1 and (runs[0] / "last.pt").is_file()  # interrupted, resumable
    assert main(args) == 0
    assert list((out / "reproduce-cub-seed0" / "lrcn").glob("lrcn-*")) == runs  # resumed
    assert len((runs[0] / "metrics.jsonl").read_text().splitlines()) == 40


class _EnvJob(Job):
    """A job whose command prints what a launcher gave it (no training)."""

    def argv(self) -> list[str]:
        seen = ", ".join(
            f"os.environ.get({name!r})" for name in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")
        )
        code = f"import os; print({seen})"
        return [sys.executable, "-c", code]


def test_local_jobs_each_see_one_gpu_of_their_own_or_a_share_of_the_cores(tmp_path, monkeypatch):
    from gvetool.builtins.launchers.local import Local, LocalOptions

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    jobs = [_EnvJob(name, name, TrainConfig(), tmp_path) for name in ("a", "b", "c")]
    for job in jobs:
        job.log.parent.mkdir(parents=True, exist_ok=True)
    outcomes = Local(LocalOptions(jobs=2, gpus="3,5")).launch(jobs)
    assert [o.status for o in outcomes] == [FINISHED] * 3
    seen = [job.log.read_text().split()[0] for job in jobs]
    assert seen[:2] == ["3", "5"] and seen[2] in {"3", "5"}  # a free GPU, never a shared one
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    outcomes = Local(LocalOptions(jobs=4)).launch([_EnvJob("d", "d", TrainConfig(), tmp_path)])
    assert (tmp_path / "jobs" / "d.log").read_text().split() == ["None", "2"]
