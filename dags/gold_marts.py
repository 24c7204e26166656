"""Airflow DAG gold_marts: the dbt gold marts through astronomer-cosmos, gated by Great Expectations.

Scheduled on the risk tables' assets (it runs after care_risk_daily updates them). The dbt graph is
rendered from the manifest `make airflow-install` builds (parsing this file never runs dbt); each model
and its tests are tasks, run by `gglake-dbt` (the project's dbt runner) on the deployment's engine.
silver gate → dbt models and tests → gold gate → publish → knowledge (the chatbot's policy tables and
search index, rebuilt from the welfare policies and the popularity mart this run published).
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

from gglake.orchestration import PROJECT_ROOT, asset, default_args, project_python, run_step, start_date

DBT_DIR = PROJECT_ROOT / "dbt"
MANIFEST = Path(os.environ.get("GGLAKE_DBT_MANIFEST") or PROJECT_ROOT / "var" / "dbt" / "manifest.json")
MARTS = sorted(p.stem for p in (DBT_DIR / "models" / "marts").glob("*.sql"))


@dag(
    dag_id="gold_marts",
    schedule=[asset("gold.risk_alerts")],
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,  # one dbt build writes the marts at a time
    default_args=default_args(),
    tags=["gold", "dbt"],
    doc_md=__doc__,
)
def gold_marts():
    @task(task_id="silver_gate")
    def silver_gate(run_id=None) -> dict:
        return run_step("gate", layer="silver", day=None, run_id=run_id)

    marts = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(dbt_project_path=DBT_DIR, manifest_path=MANIFEST, project_name="gglake"),
        profile_config=ProfileConfig(profile_name="gglake", target_name="lakehouse",
                                     profiles_yml_filepath=DBT_DIR / "profiles.yml"),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=str(Path(project_python()).parent / "gglake-dbt"),
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        # One task per mart (and seed): `dbt build` of it with its tests. Staging and intermediate views
        # live only in the engine session that creates them, so each mart's task builds the views it reads
        # (and their tests) itself; tests spanning several marts run as tasks after all of them.
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            exclude=["config.materialized:view"],
            test_behavior=TestBehavior.BUILD,
            should_detach_multiple_parents_tests=True,
            emit_datasets=False,
        ),
        # A failed model or test fails the same way again: no retries (engine errors fail the task too).
        operator_args={"append_env": True, "install_deps": False, "retries": 0},
    )

    @task(task_id="gold_gate")
    def gold_gate(run_id=None) -> dict:
        return run_step("gate", layer="gold", day=None, run_id=run_id)

    @task(task_id="publish", outlets=[asset(f"gold.{mart}") for mart in MARTS])
    def publish(run_id=None) -> dict:
        return run_step("publish", release="marts", run_id=run_id)

    @task(task_id="knowledge", outlets=[asset("gold.policy_documents"), asset("gold.policy_chunks")])
    def knowledge(run_id=None) -> dict:
        return run_step("knowledge", run_id=run_id)

    # Seeds first: the marts read them through views, which are not rendered, so Cosmos sees no edge; a mart
    # built while its seed is being rewritten reads an empty table.
    nodes = list(marts.children.values())
    for seed in (n for n in nodes if n.task_id.endswith("_seed_build")):
        for node in nodes:
            if node is not seed and not node.task_id.endswith("_seed_build"):
                seed >> node

    silver_gate() >> marts >> gold_gate() >> publish() >> knowledge()


gold_marts()
