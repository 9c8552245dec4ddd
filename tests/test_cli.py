"""The CLI's contract with users: versions, plugin listing, one-line errors, --debug."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gvetool import __version__
from gvetool.cli import INTERNAL_ERROR_EXIT, main

COMMANDS = """
import typer
from gvetool.plugin_api import hookimpl
from gvetool.utils.errors import GvetoolError

def hello(name: str = "bird"):
    print(f"hello {name}")

def fail():
    raise GvetoolError("the data root /nowhere does not exist; pass --data-root DIR")

def crash():
    raise ZeroDivisionError("oops")

@hookimpl
def gvetool_register_commands(app):
    app.command("hello")(hello)
    app.command("fail")(fail)
    app.command("crash")(crash)
"""


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"gvetool {__version__}"


HIJACK = """
from gvetool.plugin_api import hookimpl

def plugins():
    print("hijacked")

@hookimpl
def gvetool_register_commands(app):
    app.command("plugins")(plugins)
"""


def test_plugin_commands_are_added_and_cannot_replace_core_ones(fake_dist, capsys):
    fake_dist("cmd-plugin", "cmd_plugin", COMMANDS)
    fake_dist("hijack-plugin", "hijack_plugin", HIJACK)
    assert main(["hello", "--name", "wren"]) == 0
    captured = capsys.readouterr()
    assert "hello wren" in captured.out
    assert "tried to add command 'plugins', which already exists" in captured.err
    assert main(["plugins", "--json"]) == 0
    out = capsys.readouterr().out
    assert "hijacked" not in out
    listed = {info["name"]: info for info in json.loads(out)}
    assert listed["cmd_plugin"]["commands"] == ["hello", "fail", "crash"]
    assert listed["hijack_plugin"]["commands"] == []


def test_user_error_is_one_line_without_traceback(fake_dist, capsys):
    fake_dist("cmd-plugin", "cmd_plugin", COMMANDS)
    capsys.readouterr()
    assert main(["fail"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: the data root /nowhere does not exist; pass --data-root DIR"
    ]


def test_debug_shows_the_traceback(fake_dist, capsys):
    fake_dist("cmd-plugin", "cmd_plugin", COMMANDS)
    assert main(["--debug", "fail"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("error: the data root")


def test_unexpected_exception_is_reported_as_a_bug_in_one_line(fake_dist, capsys):
    fake_dist("cmd-plugin", "cmd_plugin", COMMANDS)
    capsys.readouterr()
    assert main(["crash"]) == INTERNAL_ERROR_EXIT
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "internal error: ZeroDivisionError: oops" in lines[0]
    assert "--debug" in lines[0]


def test_plugins_table_shows_distribution_and_what_it_registers(fake_dist, capsys):
    fake_dist(
        "gvetool-toy",
        "toy_plugin",
        """
        from gvetool.plugin_api import DatasetSpec, hookimpl

        @hookimpl
        def gvetool_register_datasets(register):
            register(DatasetSpec(name="toy", description="d", target="x:y"))
        """,
    )
    fake_dist("broken-plugin", "broken_plugin", "raise ImportError('[bold]needs libfoo')\n")
    capsys.readouterr()
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for text in ("toy_plugin", "gvetool-toy 1.0", "dataset: toy", "loaded", "failed"):
        assert text in out
    assert "[bold]needs" in out


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_python_dash_m_and_console_script_work():
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for argv in ([sys.executable, "-m", "gvetool", "--version"], ["gvetool", "--version"]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"gvetool {__version__}"


def _interpreter_start_up() -> float:
    """Seconds Python takes to reach a program's first line on this machine now: a Ctrl-C
    before that is the interpreter's to handle (it aborts), not gvetool's, and under load
    it takes several times longer than on an idle machine."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


@pytest.mark.parametrize("delay", [0.15, 0.5, 1.5])
def test_ctrl_c_at_any_moment_of_start_up_is_one_line(tmp_path, delay):
    """``delay`` seconds into gvetool's own start-up (after the interpreter's)."""
    env = {**os.environ, "GVETOOL_HOME": str(tmp_path / "home")}
    delay += _interpreter_start_up()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gvetool",
            "train",
            "lrcn",
            "--dataset",
            "synth",
            "--out",
            str(tmp_path / "runs"),
            "--hidden-size",
            "16",
            "--embedding-size",
            "16",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=180)  # a step under way finishes first
    assert process.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and lines[-1].startswith("error: ")
    assert "interrupt" in lines[-1]


def test_shell_completion_is_offered_and_completes_commands(capsys, monkeypatch):
    code = main(["--show-completion", "bash"])
    assert code == 0, capsys.readouterr()
    assert "_gvetool_completion" in capsys.readouterr().out
    monkeypatch.setenv("_GVETOOL_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "gvetool tr")
    monkeypatch.setenv("COMP_CWORD", "1")
    assert main([]) == 0
    assert capsys.readouterr().out.split() == ["train", "transfer"]


INTERRUPTED_NUMPY = """
import importlib.abc, sys

class InterruptNumpy(importlib.abc.MetaPathFinder):
    fired = False

    def find_spec(self, name, path, target=None):
        if name in ("numpy._core.multiarray", "numpy.core.multiarray") and not self.fired:
            InterruptNumpy.fired = True
            raise KeyboardInterrupt  # Ctrl-C while numpy is being imported
        return None

sys.meta_path.insert(0, InterruptNumpy())
sys.argv = ["gvetool", "train", "lrcn", "--dataset", "synth", "--out", sys.argv[1],
            "--epochs", "1", "--hidden-size", "8", "--embedding-size", "8"]
from gvetool.__main__ import main
sys.exit(main())
"""


def test_ctrl_c_while_numpy_imports_is_one_line_not_a_broken_numpy(tmp_path):
    """torch imports numpy from C and swallows an interrupt there; gvetool must not."""
    env = {**os.environ, "GVETOOL_HOME": str(tmp_path / "home"), "GVETOOL_QUIET": "1"}
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_NUMPY, str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "error: interrupted while starting; nothing was done"
    ]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("where", ["file", "file/sub", "/proc/gvetool-runs"])
def test_an_unusable_output_folder_is_one_line_naming_it(where, tiny_cub_master, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    out = where if where.startswith("/") else str(tmp_path / where)
    train = [
        "train",
        "lrcn",
        "--dataset",
        "cub",
        "--data-root",
        str(tiny_cub_master),
        "--out",
        out,
        "--epochs",
        "1",
        "--hidden-size",
        "8",
        "--embedding-size",
        "8",
    ]
    synth = [
        "data",
        "synth",
        out,
        "--classes",
        "2",
        "--images-per-class",
        "3",
        "--captions-per-image",
        "1",
        "--feature-dim",
        "4",
    ]
    for args in (train, synth):
        assert main(args) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert "Traceback" not in "\n".join(err) and "internal error" not in err[-1]
        assert err[-1].startswith("error: cannot ") and out.split("/sub")[0] in err[-1]


def test_a_full_disk_while_writing_is_one_line(tiny_cub_master, tmp_path, capsys, monkeypatch):
    import errno
    import tempfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "tmp" / "x"))

    monkeypatch.setattr(tempfile, "mkstemp", full)
    args = [
        "data",
        "synth",
        str(tmp_path / "birds"),
        "--classes",
        "2",
        "--images-per-class",
        "3",
        "--captions-per-image",
        "1",
        "--feature-dim",
        "4",
    ]
    assert main(args) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: cannot ") and "No space left on device" in line


def test_help_shows_defaults_one_way_no_types_on_flags_and_completes_names(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["train", "--help"]) == 0
    train = capsys.readouterr().out
    assert "[default: 50]" in train and "[50]" not in train
    assert main(["eval", "--help"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "--force" in line]
    assert lines and "<bool>" not in lines[0] and "--no-force" not in lines[0]
    assert main(["data", "synth", "--help"]) == 0
    assert "<bool>" not in capsys.readouterr().out  # Typer's own --help too
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert "<bool>" not in listing  # nor --install-completion
    one_line = [line for line in listing.splitlines() if "every run can be resumed" in line]
    assert one_line  # a command's first paragraph flows, not broken where its docstring is
    assert main(["data", "features", "--help"]) == 0
    assert "--encoder-weights" in capsys.readouterr().out  # named as train names it
    from gvetool.cli.config_options import COMPLETIONS

    assert COMPLETIONS["model"]("gv") == ["gve"] and "cub" in COMPLETIONS["dataset"]("c")
    assert COMPLETIONS["val_metrics"]("cider,bl") == ["cider,bleu"]  # the list's last name
    assert COMPLETIONS["tracker"]("json") == ["jsonl"]
