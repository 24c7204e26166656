"""Run one pipeline step for an orchestrator: `python -m gglake.task STEP 'JSON ARGS' --result FILE`.

Airflow's tasks run in Airflow's own virtual environment and call the project's code through this
entry point in the project's environment (see `gglake.orchestration`). The arguments are the step's,
as JSON (dates as ISO strings, taken from the Airflow run's context); the step's typed result is written
to FILE as JSON, for XCom. The exit code tells the orchestrator whether retrying can help:

  0   done
  75  transient (engine or storage unreachable, a commit that lost a race, a lease another run holds)
  65  failed for good (bad data, a failed quality gate or dbt test, a bug): retrying gives the same result

The error itself, with every detail a step gives (table, expectation, samples), goes to stderr, which the
orchestrator keeps as the task log.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import traceback
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from gglake import pipeline
from gglake.process import leave
from gglake.settings import Settings

TRANSIENT = 75  # EX_TEMPFAIL
FAILED = 65  # EX_DATAERR


def _day(value: str) -> date:
    return date.fromisoformat(value[:10])


def _moment(value: str) -> datetime:
    """An interval bound as given by Airflow (an aware ISO timestamp, any zone): steps take KST."""
    from spark_jobs.landing import KST

    moment = datetime.fromisoformat(value)
    return moment.astimezone(KST) if moment.tzinfo else moment


def _landing_status(s: Settings, *, landing: str, feeds: list[str], start: str, end: str, run_id: str):
    status = pipeline.landing_status(s, landing, feeds, _moment(start), _moment(end))
    return {**dataclasses.asdict(status), "arrived": status.arrived, "ingested": status.ingested}


def _ingest(s: Settings, *, landing: str, feed: str, start: str, end: str, run_id: str):
    return pipeline.ingest_feeds(s, landing, run_id, feeds=[feed], start=_moment(start), end=_moment(end))


def _gate(s: Settings, *, layer: str, day: str | None, run_id: str):
    return pipeline.quality_gate(s, layer, _day(day) if day else None, run_id)


def _features(s: Settings, *, start: str, end: str, run_id: str):
    return pipeline.build_features(s, _day(start), _day(end), run_id)


def _train(s: Settings, *, run_id: str):
    result = pipeline.train_if_needed(s, run_id)
    return dataclasses.replace(result, card=None)  # the card is in the model store; XCom needs the version


def _score(s: Settings, *, day: str, run_id: str):
    return pipeline.score_day(s, _day(day), run_id)


def _maintain(s: Settings, *, retention_days: int, run_id: str):
    return pipeline.maintain(s, run_id, retention_days=retention_days)


def _publish(s: Settings, *, release: str, run_id: str):
    return pipeline.publish(s, release, run_id)


def _knowledge(s: Settings, *, run_id: str):
    return pipeline.build_knowledge(s, run_id)


STEPS: dict[str, Callable] = {
    "landing_status": _landing_status,
    "ingest": _ingest,
    "gate": _gate,
    "features": _features,
    "train": _train,
    "score": _score,
    "maintain": _maintain,
    "publish": _publish,
    "knowledge": _knowledge,
}


def _jsonable(result):
    if dataclasses.is_dataclass(result):
        result = dataclasses.asdict(result)
    return json.loads(json.dumps(result, default=str))


def run(step: str, args: dict, settings: Settings | None = None):
    """Run `step` with `args`; returns its result as plain JSON data (raises what the step raises)."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; steps: {', '.join(STEPS)}")
    return _jsonable(STEPS[step](settings or Settings.from_env(), **args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gglake.task", description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("args", help="the step's arguments as a JSON object")
    parser.add_argument("--result", type=Path, help="write the step's result here as JSON")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        result = run(options.step, json.loads(options.args))
    except Exception as exc:
        transient = pipeline.is_transient(exc)
        traceback.print_exc()
        # The last line is the orchestrator's one-line reason: what failed and whether a retry may help.
        print(f"gglake step {options.step} failed ({'transient' if transient else 'not retryable'}): "
              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return TRANSIENT if transient else FAILED
    if options.result:
        options.result.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    leave(main())
