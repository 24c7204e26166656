"""Bronze: every landed record keeps its lineage. Batch = the latest `_ingest_date` partition."""

from __future__ import annotations

import great_expectations.expectations as gxe

from gglake.catalog import BRONZE, table
from quality.builders import columns_match, not_null
from quality.checks import Check, TableSuite, register


def bronze_suite(name: str) -> TableSuite:
    t = table(name)
    return TableSuite(
        name,
        "bronze",
        (
            columns_match(t),
            *not_null(("_batch_id", "_source_file", "_line", "_ingested_at"), "critical"),
            Check(
                "line_positive",
                "critical",
                gxe.ExpectColumnValuesToBeBetween(column="_line", min_value=1),
                description="_line is 1-based",
            ),
            Check(
                "read_errors_rare",
                "warning",
                gxe.ExpectColumnValuesToBeNull(column="_read_error", mostly=0.95),
                description="at most 5 % of the batch's records could not be read faithfully",
            ),
            Check(
                "payload_present",
                "warning",
                gxe.ExpectColumnValuesToNotBeNull(column="payload", mostly=0.99),
                description="records carry a payload",
            ),
        ),
        batch_column="_ingest_date",
    )


register(*(bronze_suite(t.name) for t in BRONZE))
