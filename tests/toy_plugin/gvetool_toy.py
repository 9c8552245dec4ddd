"""A third-party gvetool plugin, packaged and installed like any user's plugin would be."""

import typer

from gvetool import DatasetSpec, hookimpl


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


@hookimpl
def gvetool_register_commands(app):
    app.command("toy-hello")(toy_hello)
