"""Debian's Chromium for the browser tests (Playwright drives it), and where tests leave screenshots."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(os.environ.get("GGLAKE_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "var" / "test-artifacts"))
