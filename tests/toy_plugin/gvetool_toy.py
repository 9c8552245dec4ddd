"""A third-party gvetool plugin, packaged and installed like any user's plugin would be."""

from dataclasses import dataclass, field

import typer

from gvetool.plugin_api import DatasetSpec, ModelSpec, hookimpl


def toy_hello(name: str = typer.Option("world", help="Who to greet.")) -> None:
    """Greet from a plugin-provided command."""
    typer.echo(f"hello {name} from gvetool-toy")


@hookimpl
def gvetool_register_datasets(register):
    register(
        DatasetSpec(
            name="toy-birds",
            description="toy dataset from a third-party package",
            target="gvetool_toy:toy_hello",
        )
    )


@dataclass(frozen=True)
class UnigramOptions:
    bias: bool = field(default=True, metadata={"help": "give the output layer a bias"})


@hookimpl
def gvetool_register_models(register):
    register(
        ModelSpec(
            name="toy-unigram",
            description="a captioner from outside the package: one word per image",
            target="gvetool_toy_model:build_unigram",
            options=UnigramOptions,
        )
    )
    register(
        ModelSpec(
            name="toy-broken",
            description="a captioner without beam_search, to be refused",
            target="gvetool_toy_model:build_broken",
        )
    )


@hookimpl
def gvetool_register_commands(app):
    app.command("toy-hello")(toy_hello)
