"""Airflow DAGs ingest_<feed>: one per landing feed, on the feed's delivery cadence (KST data intervals).

Each run waits for its interval's landing folders (a rescheduling sensor: no worker slot is held while
waiting; a delivery still missing at the timeout fails the run with the folders named), then lands and
refines exactly that interval (gglake.pipeline.ingest_feeds), and updates the feed's silver assets.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, PokeReturnValue, dag, task

from gglake.domain import FEED_CADENCE, feed_silver_tables
from gglake.orchestration import (
    CRON_OF_CADENCE,
    INGEST_DAGS,
    TIMEZONE,
    asset,
    default_args,
    env_seconds,
    landing,
    run_step,
    start_date,
)

WAIT_POKE_SECONDS = env_seconds("GGLAKE_LANDING_POKE_SECONDS", 120)
WAIT_TIMEOUT_SECONDS = env_seconds("GGLAKE_LANDING_TIMEOUT_SECONDS", 6 * 3600)


def ingest_dag(feed: str, dag_id: str):
    silver = feed_silver_tables(feed)

    @dag(
        dag_id=dag_id,
        schedule=CronDataIntervalTimetable(CRON_OF_CADENCE[FEED_CADENCE[feed]], timezone=TIMEZONE),
        start_date=start_date(),
        catchup=False,
        max_active_runs=8,
        default_args=default_args(),
        tags=["ingest", FEED_CADENCE[feed]],
        doc_md=f"Ingest the **{feed}** feed ({FEED_CADENCE[feed]}, KST) into bronze and {', '.join(silver)}.",
    )
    def ingest_feed():
        @task.sensor(task_id="wait_for_landing", mode="reschedule", poke_interval=WAIT_POKE_SECONDS,
                     timeout=WAIT_TIMEOUT_SECONDS, retries=0)
        def wait_for_landing(data_interval_start=None, data_interval_end=None, run_id=None) -> PokeReturnValue:
            status = run_step("landing_status", landing=landing(), feeds=[feed], start=data_interval_start.isoformat(),
                              end=data_interval_end.isoformat(), run_id=run_id)
            if status["missing_folders"]:
                print(f"landing not arrived yet: {', '.join(status['missing_folders'])} "
                      f"(poking every {WAIT_POKE_SECONDS:.0f} s, timeout {WAIT_TIMEOUT_SECONDS:.0f} s)")
                return PokeReturnValue(is_done=False)
            return PokeReturnValue(is_done=True, xcom_value=len(status["unrecorded_files"]))

        @task(task_id="ingest", pool=f"feed_{feed}", outlets=[asset(t) for t in silver])
        def ingest(data_interval_start=None, data_interval_end=None, run_id=None) -> dict:
            return run_step("ingest", landing=landing(), feed=feed, start=data_interval_start.isoformat(),
                            end=data_interval_end.isoformat(), run_id=run_id)

        wait_for_landing() >> ingest()

    return ingest_feed()


for _feed, _dag_id in INGEST_DAGS.items():
    ingest_dag(_feed, _dag_id)
