"""Suites as code, one module per gate layer. Importing this package registers them all in
`quality.checks.SUITES` (keyed by table name); more suites (e.g. dbt gold marts) can be added with
`quality.checks.register(...)`, typically `register(keys_suite("gold.mart_x", ("mart_key",)))`."""

from quality.suites import bronze, features, gold, silver  # noqa: F401
