"""Suite-wide test setup: every Qt test runs headless."""

from __future__ import annotations

import os


# Before anything imports Qt: every GUI test runs without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
