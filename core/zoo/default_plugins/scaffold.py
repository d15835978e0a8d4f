"""Built-in command ``zoo new-plugin NAME``, added through the ``register_commands`` hook."""

from zoo.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    import click

    @cli.command(name="new-plugin")
    @click.argument("name")
    @click.option("--dir", "directory", default=".", type=click.Path(file_okay=False), help="Where to write it.")
    def new_plugin(name: str, directory: str) -> None:
        """Scaffold a third-party plugin package zoo-plugin-NAME that passes its own tests."""
        from zoo.scaffold import new_plugin as make

        root = make(name, directory)
        click.echo(f"wrote {root}\nnext: pip install -e '{root}[test]' && pytest {root}")
