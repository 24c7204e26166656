"""A timetable Airflow's cron timetables cannot express: run at a fixed KST time on day D+1 for the
KST calendar day D (the care service scores yesterday at 04:00, once every feed of the day has landed)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

KST = pendulum.timezone("Asia/Seoul")


class KstPreviousDayTimetable(Timetable):
    """Daily at `hour`:`minute` Asia/Seoul; each run's data interval is the previous KST day [00:00, 24:00).

    The logical date is that day's KST midnight, so `airflow backfill create --from-date D1 --to-date D2`
    (dates in KST) runs days D1..D2.
    """

    def __init__(self, hour: int = 4, minute: int = 0) -> None:
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError(f"not a time of day: {hour}:{minute}")
        self.hour, self.minute = hour, minute
        self.delay = timedelta(hours=hour, minutes=minute)
        self.description = f"daily at {hour:02d}:{minute:02d} Asia/Seoul, for the previous KST day"

    @property
    def summary(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d} KST, previous day"

    def serialize(self) -> dict:
        return {"hour": self.hour, "minute": self.minute}

    @classmethod
    def deserialize(cls, data: dict) -> KstPreviousDayTimetable:
        return cls(data["hour"], data["minute"])

    def __eq__(self, other) -> bool:
        return isinstance(other, KstPreviousDayTimetable) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((self.hour, self.minute))

    def _day(self, start) -> DataInterval:
        start = pendulum.instance(start).in_timezone(KST).start_of("day")
        return DataInterval(start.in_timezone("UTC"), start.add(days=1).in_timezone("UTC"))

    def infer_manual_data_interval(self, *, run_after) -> DataInterval:
        """A manual run covers the last KST day that has ended."""
        return self._day(pendulum.instance(run_after).in_timezone(KST).subtract(days=1))

    def next_dagrun_info(self, *, last_automated_data_interval, restriction: TimeRestriction) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            interval = self._day(last_automated_data_interval.end)
        elif restriction.earliest is None:
            return None
        else:
            earliest = pendulum.instance(restriction.earliest).in_timezone(KST)
            first = earliest if earliest == earliest.start_of("day") else earliest.start_of("day").add(days=1)
            if not restriction.catchup:  # only the latest day whose run time has come
                latest_due = pendulum.now(KST).subtract(hours=self.hour, minutes=self.minute).start_of("day").subtract(days=1)
                first = max(first, latest_due)
            interval = self._day(first)
        if restriction.latest is not None and interval.start > restriction.latest:
            return None
        return DagRunInfo(run_after=interval.end + self.delay, data_interval=interval)
