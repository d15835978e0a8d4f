"""Built-in command ``zoo diagnose``: gradient-quality diagnostics (see :mod:`zoo.diagnose`)."""

from zoo.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    import click

    @cli.command()
    @click.option("--sks", required=True, help="Knowledge source to diagnose (zoo list sks).")
    @click.option("--task", help="Task whose sample_inputs give the points (default: the SKS's own task).")
    @click.option("--sks-option", "sks_opts", multiple=True, metavar="KEY=VALUE", help="An SKS option (repeatable).")
    @click.option("--task-option", "task_opts", multiple=True, metavar="KEY=VALUE", help="A task option (repeatable).")
    @click.option("--points", type=click.IntRange(min=1), default=4, show_default=True, help="Points to check at.")
    @click.option("--output", help="Check one output column (default: all, combined).")
    @click.option("--target-cosine", type=float, default=0.9, show_default=True, help="Cosine q is chosen for.")
    @click.option("--estimator", "extra", multiple=True, metavar="NAME[:K=V,...]",
                  help="Also compare this estimator, e.g. 'rge:q=32,directions=sphere' (repeatable).")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed for points and directions.")
    @click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON.")
    def diagnose(sks, task, sks_opts, task_opts, points, output, target_cosine, extra, seed, as_json):
        """Check ZO gradient estimates of an SKS against a high-accuracy reference.

        \b
        Sweeps mu to find where finite differences of the SKS converge (and whether it is
        noisy), computes a central-CGE reference gradient at realistic points, compares
        cge/rge variants with it, and recommends mu (in the input's units) and q.
        """
        import json

        from zoo.diagnose import run_command

        report = run_command(sks, task, sks_opts, task_opts, points, output, target_cosine, extra, seed)
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2))
        else:
            click.echo(report.text())
