"""Airflow DAG care_risk_daily: at 04:00 Asia/Seoul, score the previous KST day.

It starts once every feed the scores read has landed that day's deliveries (a rescheduling sensor on the
lakehouse's own manifest; each ingest run reconciled its batches, and gold_marts gates silver), then:
features → features gate → model (trained only if none) → scores and alerts → gold gate → publish.
A deadline alert fires when a run has not finished within two hours of being queued (06:00 KST for the 04:00 run).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DeadlineAlert, DeadlineReference, PokeReturnValue, SyncCallback, dag, task

from gglake.domain import feed_silver_tables
from gglake.orchestration import (
    RISK_FEEDS,
    asset,
    default_args,
    env_seconds,
    kst_day,
    landing,
    run_step,
    start_date,
)
from gglake.orchestration.timetables import KstPreviousDayTimetable

DAY_POKE_SECONDS = env_seconds("GGLAKE_LANDING_POKE_SECONDS", 120)
DAY_TIMEOUT_SECONDS = env_seconds("GGLAKE_DAY_TIMEOUT_SECONDS", 2 * 3600)
RISK_OUTPUTS = ("gold.risk_scores", "gold.risk_alerts")


@dag(
    dag_id="care_risk_daily",
    schedule=KstPreviousDayTimetable(hour=4),
    start_date=start_date(),
    catchup=False,
    max_active_runs=4,
    default_args=default_args(),
    tags=["risk", "daily"],
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=2),
        callback=SyncCallback("gglake.orchestration.deadline_missed",
                              kwargs={"dag_id": "care_risk_daily", "deadline": "2 h after queued (06:00 KST)"}),
    ),
    doc_md=__doc__,
)
def care_risk_daily():
    inputs = [asset(t) for feed in RISK_FEEDS for t in feed_silver_tables(feed)]

    @task.sensor(task_id="wait_for_silver", mode="reschedule", poke_interval=DAY_POKE_SECONDS,
                 timeout=DAY_TIMEOUT_SECONDS, retries=0, inlets=inputs)
    def wait_for_silver(data_interval_start=None, data_interval_end=None, run_id=None) -> PokeReturnValue:
        status = run_step("landing_status", landing=landing(), feeds=list(RISK_FEEDS),
                          start=data_interval_start.isoformat(), end=data_interval_end.isoformat(), run_id=run_id)
        if not status["ingested"]:
            waiting = [*status["missing_folders"], *status["unrecorded_files"]]
            print(f"{len(waiting)} deliveries of the day not landed yet, e.g. {', '.join(waiting[:5])}")
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True)

    @task(task_id="features", pool="risk", outlets=[asset("features.resident_daily")])
    def features(data_interval_start=None, run_id=None) -> dict:
        day = kst_day(data_interval_start)
        return run_step("features", start=day, end=day, run_id=run_id)

    @task(task_id="features_gate")
    def features_gate(data_interval_start=None, run_id=None) -> dict:
        return run_step("gate", layer="features", day=kst_day(data_interval_start), run_id=run_id)

    @task(task_id="model", pool="risk")
    def model(run_id=None) -> dict:
        return run_step("train", run_id=run_id)

    @task(task_id="score_and_alert", pool="risk", outlets=[asset(t) for t in RISK_OUTPUTS])
    def score_and_alert(data_interval_start=None, run_id=None) -> dict:
        return run_step("score", day=kst_day(data_interval_start), run_id=run_id)

    @task(task_id="gold_gate")
    def gold_gate(data_interval_start=None, run_id=None) -> dict:
        return run_step("gate", layer="gold", day=kst_day(data_interval_start), run_id=run_id)

    @task(task_id="publish")
    def publish(run_id=None) -> dict:
        return run_step("publish", release="risk", run_id=run_id)

    (wait_for_silver() >> features() >> features_gate() >> model() >> score_and_alert()
     >> gold_gate() >> publish())


care_risk_daily()
