"""A stand-in for SLURM's commands, for tests: a batch script submitted with ``sbatch``
runs on this machine, in the background (``srun`` inside it runs its command), and
``sacct``, ``scancel``, ``scontrol requeue`` and ``squeue`` see and steer it the way they
would a cluster's job.

Installed as ``sbatch``, ``sacct``, ... on ``PATH`` by the tests (each a two-line shell
script calling ``python fake_slurm.py COMMAND ARGS``); the jobs' records live in
``$FAKE_SLURM_DIR``: ``<id>.json`` (state, attempts, process) and ``<id>.sbatch`` (the
script as submitted). A job whose name contains ``$FAKE_SLURM_OOM`` ends as
``OUT_OF_MEMORY`` without running, as one the kernel killed would.

As on a cluster, a job's batch shell ignores ``USR2`` and ``TERM`` (SLURM signals the
job's processes, and submitit's handler in the Python process acts on them), a requeued
job runs its script again under the same id, and ``scancel`` without ``--signal`` kills
the whole job.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ.get("FAKE_SLURM_DIR", "."))
FINISHED_STATES = {"COMPLETED", "FAILED", "CANCELLED", "OUT_OF_MEMORY"}


class _Locked:
    def __enter__(self) -> None:
        self.handle = open(STATE / "lock", "a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def _read(job_id: str) -> dict:
    path = STATE / f"{job_id}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _update(job_id: str, **changes: object) -> dict:
    with _Locked():
        record = {**_read(job_id), **changes}
        temporary = STATE / f".{job_id}.json.tmp"
        temporary.write_text(json.dumps(record))
        os.replace(temporary, STATE / f"{job_id}.json")
    return record


def sbatch(args: list[str]) -> None:
    script = Path(args[-1])
    text = script.read_text()
    with _Locked():
        counter = STATE / "counter"
        job_id = str(int(counter.read_text()) + 1 if counter.is_file() else 1001)
        counter.write_text(job_id)
    (STATE / f"{job_id}.sbatch").write_text(text)
    output = re.search(r"^#SBATCH --output=(\S+)$", text, flags=re.M)
    name = re.search(r"^#SBATCH --job-name=(\S+)$", text, flags=re.M)
    job_name = name.group(1) if name else ""
    _update(
        job_id,
        script=str(script),
        name=job_name,
        state="PENDING",
        attempts=0,
        output=output.group(1).replace("%j", job_id) if output else os.devnull,
        submitted=time.time(),
    )
    oom = os.environ.get("FAKE_SLURM_OOM")
    if oom and oom in job_name:
        _update(job_id, state="OUT_OF_MEMORY")
    else:
        subprocess.Popen(
            [sys.executable, __file__, "_run", job_id],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    print(f"Submitted batch job {job_id}")


def _run(args: list[str]) -> None:
    job_id = args[0]
    while True:
        record = _read(job_id)
        environment = {
            **os.environ,
            "SLURM_JOB_ID": job_id,
            "SLURM_PROCID": "0",
            "SLURM_LOCALID": "0",
            "SLURM_NTASKS": "1",
            "SLURM_JOB_NUM_NODES": "1",
            "SLURM_NODEID": "0",
            "SLURM_JOB_NODELIST": "localhost",
        }
        with open(record["output"], "ab") as output:
            process = subprocess.Popen(
                ["bash", "-c", f"trap '' USR2 TERM; source {record['script']}"],
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _update(
            job_id, state="RUNNING", pid=process.pid, attempts=record["attempts"] + 1, requeue=False
        )
        code = process.wait()
        record = _read(job_id)
        if record.get("cancelled"):
            _update(job_id, state="CANCELLED", exit_code=code)
            return
        if record.get("requeue"):
            _update(job_id, state="REQUEUED")
            continue
        state = "COMPLETED" if code == 0 else "FAILED"
        _update(job_id, state=state, exit_code=code)
        return


def sacct(args: list[str]) -> None:
    ids = [args[i + 1] for i, arg in enumerate(args) if arg == "-j"]
    print("JobID|State|NodeList")
    for job_id in ids:
        record = _read(job_id)
        if record:
            print(f"{job_id}|{record['state']}|localhost")


def squeue(args: list[str]) -> None:
    print("JOBID STATE")
    for path in sorted(STATE.glob("*.json")):
        record = json.loads(path.read_text())
        if record["state"] not in FINISHED_STATES:
            print(f"{path.stem} {record['state']}")


def scancel(args: list[str]) -> None:
    job_id = next(arg for arg in args if not arg.startswith("-") and arg.isdigit())
    record = _read(job_id)
    if "--signal" in args:
        name = args[args.index("--signal") + 1]
        os.killpg(record["pid"], getattr(signal, name if name.startswith("SIG") else f"SIG{name}"))
        return
    _update(job_id, cancelled=True)
    if record.get("state") == "RUNNING":
        os.killpg(record["pid"], signal.SIGKILL)
    elif record.get("state") == "PENDING":
        _update(job_id, state="CANCELLED")


def srun(args: list[str]) -> None:
    """Inside the job: run the command (its output already goes to the job's)."""
    with_value = {"--output", "--error", "-o", "-e"}
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in with_value else 1
    os.execvp(args[index], args[index:])


def scontrol(args: list[str]) -> None:
    if args[0] == "requeue":
        _update(args[1], requeue=True)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {
        "sbatch": sbatch,
        "_run": _run,
        "sacct": sacct,
        "squeue": squeue,
        "scancel": scancel,
        "scontrol": scontrol,
        "srun": srun,
    }[command](rest)
