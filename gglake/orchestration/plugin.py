"""Registers the lakehouse's timetable with Airflow (the `airflow.plugins` entry point in pyproject.toml)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from gglake.orchestration.timetables import KstPreviousDayTimetable


class LakehousePlugin(AirflowPlugin):
    name = "gglake"
    timetables = [KstPreviousDayTimetable]
