"""Progress: a live bar on a terminal, plain lines in logs, notices above the bar."""

from __future__ import annotations

import io

from rich.console import Console

from gvetool.utils import console, progress
from gvetool.utils.progress import progress_bar


def test_without_a_terminal_progress_is_plain_lines(monkeypatch, capsys):
    monkeypatch.delenv(progress.QUIET_ENV)
    with progress_bar(40, "converting features") as advance:
        for i in range(40):
            advance(1, f"loss {i}")
    (line,) = capsys.readouterr().err.splitlines()  # a short loop: its closing line
    assert line.startswith("converting features: 40/40 (100%) in ")
    assert line.endswith("s  loss 39") and "━" not in line and "…" not in line


def test_a_slow_loop_prints_a_line_every_interval(monkeypatch, capsys):
    monkeypatch.delenv(progress.QUIET_ENV)
    clock = iter(range(0, 1000, 20))
    monkeypatch.setattr(progress.time, "monotonic", lambda: float(next(clock)))
    with progress_bar(None, "downloading") as advance:
        for _ in range(4):
            advance(5)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" in ")[0] for line in lines] == [
        "downloading: 10",
        "downloading: 20",
        "downloading: 20",
    ]


def test_a_notice_during_a_live_bar_is_its_own_line(monkeypatch):
    monkeypatch.delenv(progress.QUIET_ENV)
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    monkeypatch.setattr(console, "Console", lambda **_: terminal)
    with progress_bar(10, "epoch 1/2") as advance:
        advance(3, "loss 2.339")
        console.err().print("stopping after this step to save a checkpoint")
        with progress_bar(5, "nested") as inner:  # drawn by the outer bar alone
            inner(5)
        advance(7)
    text = screen.getvalue()
    # the bar's line is erased (ESC[2K), the notice printed whole, then the bar drawn again
    assert "\r\x1b[2Kstopping after this step to save a checkpoint\n" in text
    assert "nested" not in text
