"""Codes and physical limits shared by validation, features and quality checks (see DOMAIN.md)."""

from __future__ import annotations

# metric -> (device types that may send it, unit, physically possible range of `value`).
# Outside the range is a device fault: quarantined, never scored.
SENSOR_METRICS: dict[str, tuple[tuple[str, ...], str, float, float]] = {
    "heart_rate": (("wearable", "pulse_oximeter", "bp_monitor"), "bpm", 20, 250),
    "spo2": (("pulse_oximeter", "wearable"), "%", 50, 100),
    "blood_pressure": (("bp_monitor", "wearable"), "mmHg", 50, 300),  # value = systolic
    "body_temp": (("thermometer", "wearable"), "°C", 30, 45),
    "resp_rate": (("bed_sensor", "wearable"), "breaths/min", 4, 60),
    "stress_index": (("wearable",), "score", 0, 100),
    "steps": (("wearable",), "count", 0, 30000),
    "motion_events": (("motion_sensor",), "count", 0, 3600),
    "door_events": (("door_sensor",), "count", 0, 500),
    "power_kwh": (("smart_plug",), "kWh", 0, 20),
}
DIASTOLIC_RANGE = (20, 200)
DEVICE_TYPES = tuple(sorted({d for devices, *_ in SENSOR_METRICS.values() for d in devices} | {"bed_sensor"}))

CALL_VENDORS = ("hyodol", "dasom")
CALL_OUTCOMES = ("answered", "no_answer", "busy", "failed")
ESCALATIONS = ("none", "monitoring_centre", "public_official", "home_visit", "119")

VISIT_REASONS = ("routine", "unanswered_calls", "alert")
VISIT_OUTCOMES = ("no_issue", "deterioration", "fall", "hospitalised", "lonely_death")
ADVERSE_VISIT_OUTCOMES = ("deterioration", "fall", "hospitalised", "lonely_death")

PROGRAMMES = ("ai_call", "health_sensor", "lonely_death_prevention", "developmental_disability")
RESIDENT_STATUSES = ("active", "withdrawn")

SECTORS = ("ai_software", "semiconductor", "mobility", "bio_health", "ict")
COMPANY_STATUSES = ("active", "closed")
NOTICE_TYPES = ("복지서비스", "공고", "공지")


# A feed is what one ingest run (and one Airflow DAG) lands and refines together, as landing source names.
# A feed's sources write bronze and silver tables no other feed writes, so runs on different feeds may go
# in parallel. The two welfare APIs and the portal's search ranking land as one feed.
FEEDS: dict[str, tuple[str, ...]] = {
    "registry": ("registry",),
    "sensors": ("sensors",),
    "calls": ("calls",),
    "visits": ("visits",),
    "welfare": ("welfare_national", "welfare_provincial", "search_ranking"),
    "industry": ("industry",),
}

# The silver table each landing source is refined into (spark_jobs.entities builds them; an ingest DAG
# declares its feed's tables as the Airflow assets it updates).
SILVER_TABLES: dict[str, str] = {
    "registry": "silver.residents",
    "sensors": "silver.sensor_readings",
    "calls": "silver.care_calls",
    "visits": "silver.visit_outcomes",
    "welfare_national": "silver.welfare_services",
    "welfare_provincial": "silver.welfare_services",
    "search_ranking": "silver.policy_search_ranking",
    "industry": "silver.companies",
}

# How each feed is delivered, in KST: the interval its ingest runs cover, and whether a delivery lands for
# every interval (so a missing folder is waited for) or only when something changed (the registry exports
# a snapshot on the days its cohort changed; a day without one is normal).
FEED_CADENCE: dict[str, str] = {
    "registry": "daily",
    "sensors": "hourly",
    "calls": "daily",
    "visits": "daily",
    "welfare": "daily",
    "industry": "quarterly",
}
DELIVERED_ON_CHANGE_ONLY: frozenset[str] = frozenset({"registry"})


def feed_silver_tables(feed: str) -> tuple[str, ...]:
    return tuple(sorted({SILVER_TABLES[source] for source in FEEDS[feed]}))
