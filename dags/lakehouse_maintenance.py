"""Airflow DAG lakehouse_maintenance: weekly compaction, VACUUM and checkpoints of every table.

Vacuum keeps GGLAKE_RETENTION_DAYS (default 30) of time travel, the audit window. Files and bytes before
and after land in audit.maintenance_runs and in the task's result. Each table is maintained under its
writer's lease, so a run waits for (never races) the DAGs that write it.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task

from gglake.orchestration import TIMEZONE, default_args, env_seconds, run_step, start_date

RETENTION_DAYS = int(env_seconds("GGLAKE_RETENTION_DAYS", 30))


@dag(
    dag_id="lakehouse_maintenance",
    schedule=CronDataIntervalTimetable("0 2 * * 0", timezone=TIMEZONE),  # Sundays 02:00 KST
    start_date=start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["maintenance", "weekly"],
    doc_md=__doc__,
)
def lakehouse_maintenance():
    @task(task_id="maintain")
    def maintain(run_id=None) -> dict:
        result = run_step("maintain", retention_days=RETENTION_DAYS, run_id=run_id)
        for t in result["tables"]:
            print(f"{t['table_name']}: files {t['files_before']} -> {t['files_after']}, "
                  f"bytes {t['bytes_before']} -> {t['bytes_after']}")
        return result

    maintain()


lakehouse_maintenance()
