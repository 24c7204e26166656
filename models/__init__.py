"""Pure rule tables and scorers (NEWS2, blood pressure, grades, escalation) shared by scalar code and Polars jobs."""
