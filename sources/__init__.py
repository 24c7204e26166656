"""Seeded generator of realistic landing files for the four sources (see docs/landing.md)."""

from sources.generate import SOURCES, generate

__all__ = ["SOURCES", "generate"]
