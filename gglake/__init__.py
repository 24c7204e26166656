"""Gyeonggi AI Care & Industry Lakehouse: shared runtime (settings, engine, table catalog, CLI)."""

__version__ = "0.1.0"
