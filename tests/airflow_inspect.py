"""Run by tests/test_airflow.py in Airflow's environment: parse every DAG file and describe what it declares.

Writes one JSON object to the file named second: per file its parse time, DAG ids and import errors; per DAG its serialised
timetable (the scheduler's view), schedule assets, deadline, tasks (pool, retries, outlets, inlets), and the
data intervals its timetable gives for a few moments.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
from airflow.timetables.base import TimeRestriction


def _assets(items) -> list[str]:
    return sorted(getattr(a, "name", str(a)) for a in items or ())


def _interval(timetable, earliest: datetime) -> dict | None:
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True)
    )
    if info is None or info.data_interval is None:
        return None
    return {
        "start": info.data_interval.start.isoformat(),
        "end": info.data_interval.end.isoformat(),
        "run_after": info.run_after.isoformat(),
    }


def main(dags_dir: Path) -> dict:
    import airflow.sdk  # noqa: F401  (imported once, outside the per-file timings)

    report: dict = {"files": {}, "dags": {}}
    for path in sorted(dags_dir.glob("*.py")):
        began = time.perf_counter()
        bag = DagBag(dag_folder=str(path), bundle_path=dags_dir)
        seconds = time.perf_counter() - began
        report["files"][path.name] = {"seconds": seconds, "dags": sorted(bag.dag_ids), "errors": bag.import_errors}
        for dag_id, dag in bag.dags.items():
            serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
            timetable = serialized.timetable
            tasks = {}
            for t in dag.tasks:
                tasks[t.task_id] = {
                    "pool": t.pool,
                    "retries": t.retries,
                    "outlets": _assets(t.outlets),
                    "inlets": _assets(t.inlets),
                    "operator": type(t).__name__,
                    "upstream": sorted(t.upstream_task_ids),
                    "on_failure_callback": bool(t.on_failure_callback),
                }
            earliest = pendulum.datetime(2026, 10, 1, 10, 30, tz="Asia/Seoul")
            report["dags"][dag_id] = {
                "file": path.name,
                "timetable": type(timetable).__name__,
                "summary": timetable.summary,
                "timezone": str(getattr(timetable, "_timezone", "") or ""),
                "schedule_assets": sorted(a.name for _, a in timetable.asset_condition.iter_assets()),
                "catchup": dag.catchup,
                "max_active_runs": dag.max_active_runs,
                "deadline": [type(d.reference).__name__ for d in (dag.deadline or [])]
                if isinstance(dag.deadline, list)
                else ([type(dag.deadline.reference).__name__] if dag.deadline else []),
                "next_interval_after_2026_10_01_1030_kst": _interval(timetable, earliest),
                "tasks": tasks,
            }
    return report


if __name__ == "__main__":  # Airflow logs to stdout: the report goes to a file
    Path(sys.argv[2]).write_text(json.dumps(main(Path(sys.argv[1])), default=str))
