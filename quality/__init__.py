"""Great Expectations quality gates between the lakehouse layers (bronze → silver → features → gold).

Suites are code (`quality/suites/<layer>.py`, registered by table name in `quality.checks.SUITES`);
`quality.gates.run_gate` validates a layer on the engine and stops the pipeline on a critical failure.
"""

from quality.checks import SUITES, Check, TableSuite, register

__all__ = ["SUITES", "Check", "TableSuite", "register", "run_gate", "GateResult", "QualityGateFailed", "QUALITY_RESULTS"]


def __getattr__(name: str):
    # Importing Great Expectations takes seconds: load the runner only when it is used.
    if name in {"run_gate", "GateResult", "QualityGateFailed", "QUALITY_RESULTS", "CheckResult"}:
        from quality import gates

        return getattr(gates, name)
    raise AttributeError(name)
