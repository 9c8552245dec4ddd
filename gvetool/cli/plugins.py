"""``gvetool plugins``: which plugins are installed and what each one provides.

As honest as ``pytest --trace-config``: every entry point is listed, including the ones
that failed to import or were disabled, so "why is my dataset not found?" has an answer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import typer
from rich.markup import escape
from rich.table import Table

from gvetool.kernel.manager import get_plugins
from gvetool.utils import console

STATUS_STYLE = {"loaded": "green", "failed": "red", "disabled": "yellow"}


def plugins(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """List installed plugins (built-ins included) and what each registers."""
    infos = get_plugins().infos
    if as_json:
        typer.echo(json.dumps([asdict(info) for info in infos], indent=2))
        return
    table = Table(title="gvetool plugins")
    for column in ("plugin", "distribution", "module", "provides", "status"):
        table.add_column(column, overflow="fold")
    for info in infos:
        provides = [
            f"{kind}: {', '.join(names)}" for kind, names in info.registered.items() if names
        ]
        if info.commands:
            provides.append(f"command: {', '.join(info.commands)}")
        status = f"[{STATUS_STYLE[info.status]}]{info.status}[/]"
        if info.error:
            status += f"\n{escape(info.error)}"
        table.add_row(
            escape(info.name),
            escape(f"{info.distribution} {info.version}"),
            escape(info.module),
            escape("\n".join(provides) or "-"),
            status,
        )
    console.out().print(table)
    for line in [*_model_option_lines(), *_metric_lines(), *_launcher_lines()]:
        console.out().print(line, highlight=False, markup=False)


def _model_option_lines() -> list[str]:
    """``--model-option`` keys of every model that declares options, with type and help."""
    from gvetool.kernel.options import option_fields

    lines = []
    models = get_plugins().models
    for name in models.names():
        for declared in option_fields(models.get(name)):
            default = json.dumps(declared.default)
            help_text = declared.metadata.get("help", "")
            lines.append(f"  {name}: --model-option {declared.name}=... [{default}] {help_text}")
    return ["model options:", *lines] if lines else []


def _launcher_lines() -> list[str]:
    """Each launcher with its options (``--launcher`` of cv and reproduce)."""
    lines = []
    for name in get_plugins().launchers.names():
        spec = get_plugins().launchers.get(name)
        declared = fields(spec.options) if spec.options is not None else ()
        options = [f"--{f.name.replace('_', '-')}" for f in declared]
        shown = f" [{' '.join(options)}]" if options else ""
        lines.append(f"  {name}:{shown} {spec.description}")
    return ["launchers (gvetool cv/reproduce --launcher):", *lines]


def _metric_lines() -> list[str]:
    """Each metric with the numbers it writes and where it can be used: ``--metrics`` of
    eval and reproduce, ``--val-metrics`` (and which of those pick best.pt)."""
    lines = []
    for spec in get_plugins().metrics.in_order():
        uses = ["eval" + (" (default)" if spec.evaluation else "")]
        if spec.validates_each_epoch:
            uses.append("val" + (" (default)" if spec.validation else ""))
        if spec.best:
            direction = "highest" if spec.higher_is_better else "lowest"
            uses.append(f"best.pt by {direction} {spec.best}")
        lines.append(
            f"  {spec.name}: {', '.join(spec.keys)} [{'; '.join(uses)}] {spec.description}"
        )
    return ["metrics (gvetool eval --metrics, gvetool train --val-metrics):", *lines]
