"""What the consoles print where no terminal sets their width."""

from __future__ import annotations

from rich.table import Table

from gvetool.utils import console


def test_a_wide_table_prints_whole_into_a_file_or_pipe(capsys, monkeypatch):
    """Redirected to a log (``> run.log``, a SLURM job), stdout has no width; rich then
    assumes 80 columns and cuts every cell of a wide results table to "0…"."""
    monkeypatch.delenv("COLUMNS", raising=False)
    table = Table(title="GVE ablations")
    names = [f"measure_number_{i}" for i in range(12)]
    table.add_column("model")
    for name in names:
        table.add_column(name, justify="right")
    table.add_row("explanation", *(f"0.{i:03d}" for i in range(12)))
    console.out().print(table)
    printed = capsys.readouterr().out
    assert "…" not in printed
    assert all(name in printed for name in names) and "0.011" in printed


def test_columns_still_sets_the_width(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    assert console.out().width == 60
