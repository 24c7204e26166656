"""`gglake quality`: run the quality gates from the command line (register with `main.add_command(quality)`)."""

from __future__ import annotations

import click

from quality.checks import GATE_LAYERS


@click.command("quality")
@click.option(
    "--layer",
    "layers",
    multiple=True,
    type=click.Choice(GATE_LAYERS),
    help="Gate(s) to run, in order (repeatable); default: all of bronze, silver, features, gold.",
)
@click.option("--date", "run_date", type=click.DateTime(["%Y-%m-%d"]), help="The run's date (KST): freshness and volume.")
@click.option("--no-docs", is_flag=True, help="Do not rebuild the data docs.")
def quality(layers: tuple[str, ...], run_date, no_docs: bool) -> None:
    """Validate the layers' Great Expectations suites on the engine; exit 1 on a critical failure.

    Every expectation's result goes to audit.quality_results; data docs are written under
    GGLAKE_HOME/quality/docs. Warnings are printed and the command still succeeds.
    """
    from rich.console import Console

    from gglake.engine import spark_session
    from gglake.settings import Settings
    from quality.gates import QualityGateFailed, run_gate

    out, err = Console(), Console(stderr=True)
    settings = Settings.from_env()
    day = run_date.date() if run_date else None
    with spark_session(settings) as spark:
        for layer in layers or GATE_LAYERS:
            try:
                result = run_gate(settings, layer, day, spark, docs=not no_docs)
            except QualityGateFailed as failed:
                for w in failed.result.warnings:
                    err.print(f"[yellow]warning[/yellow] {w.line()}", highlight=False, soft_wrap=True)
                raise click.ClickException(str(failed)) from None
            out.print(result.summary(), highlight=False, soft_wrap=True)
            for w in result.warnings:
                err.print(f"[yellow]warning[/yellow] {w.line()}", highlight=False, soft_wrap=True)
            if result.docs_index and layer == (layers or GATE_LAYERS)[-1]:
                out.print(f"data docs: {result.docs_index}", highlight=False, soft_wrap=True)
