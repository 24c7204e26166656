"""`gglake knowledge build | eval | serve`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table as RichTable

from gglake.settings import Settings

out = Console()


@click.group("knowledge")
def knowledge_cli() -> None:
    """The chatbot's knowledge tables (gold.policy_documents, gold.policy_chunks), their search index and API."""


@knowledge_cli.command("build")
@click.option("--run-id", help="The build's run id (default: a new one).")
@click.option("--wait-seconds", default=0.0, show_default=True, help="Wait this long for another build's lease.")
def build_command(run_id: str | None, wait_seconds: float) -> None:
    """Build the knowledge tables from silver.welfare_services and gold.mart_policy_popularity (only changed
    policies are re-chunked) and publish the search index when they changed."""
    from gglake.pipeline import build_knowledge, new_run_id

    s = build_knowledge(Settings.from_env(), run_id or new_run_id("knowledge"), wait_seconds)
    out.print(f"{s.run_id}: {s.policies:,} policies ({s.active:,} active), {s.new_versions:,} new versions, "
              f"{s.chunks:,} chunks ({s.tokenised_chunks:,} tokenised now) in {s.seconds:.1f} s")  # fmt: skip
    out.print(f"tables: gold.policy_documents v{s.documents_version}, gold.policy_chunks v{s.chunks_version}; "
              f"index {s.index_version} ({'rebuilt' if s.index_rebuilt else 'unchanged'})")  # fmt: skip
    if s.unparsed:
        out.print("facets the sources did not state (left null): " + ", ".join(f"{k} {v:,}" for k, v in s.unparsed.items()))


@knowledge_cli.command("eval")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Question set (default: knowledge/questions.yaml).")
def eval_command(questions: Path | None) -> None:
    """recall@5, MRR and eligibility violations of BM25 alone, BM25 + eligibility, and the full ranking,
    on the tuning and held-back questions."""
    from gglake.knowledge.evaluate import QUESTIONS, evaluate, load_questions
    from gglake.knowledge.index import index_dir, load_index

    index = load_index(index_dir(Settings.from_env()))
    grid = RichTable(title=f"Knowledge search, index {index.manifest.index_version}")
    for column in ("ranking", "split", "questions", "recall@5", "MRR", "violations", "skipped"):
        grid.add_column(column, no_wrap=column in ("ranking", "recall@5", "MRR"))
    for s in evaluate(index, load_questions(questions or QUESTIONS)):
        grid.add_row(s.ranking, s.split, str(s.questions), f"{s.recall_at_5:.3f}", f"{s.mrr:.3f}", str(s.violations),
                     str(s.skipped))
    out.print(grid)


@knowledge_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=click.IntRange(1, 65535))
def serve_command(host: str, port: int) -> None:
    """Serve the read API and the search page (Ctrl-C stops it); a newly published index is picked up live."""
    from gglake.knowledge.api import serve
    from gglake.knowledge.index import index_dir

    serve(index_dir(Settings.from_env()), host, port)


@knowledge_cli.command("start")
def start_command() -> None:
    """Start the read API in the background on 127.0.0.1 (GGLAKE_KNOWLEDGE_PORT, default 8600); `stop` stops it."""
    from gglake.knowledge.index import index_dir
    from gglake.knowledge.service import KnowledgeApi

    api = KnowledgeApi(index_dir(Settings.from_env()))
    api.start()
    out.print(f"knowledge API: {api.url}/ (search page), {api.url}/openapi.json (OpenAPI); log {api.log_file}", soft_wrap=True)


@knowledge_cli.command("stop")
def stop_command() -> None:
    """Stop the read API `start` started (by its recorded PID)."""
    from gglake.knowledge.service import KnowledgeApi

    stopped = KnowledgeApi(Path(".")).stop()
    out.print("knowledge API stopped" if stopped else "knowledge API was not running")
