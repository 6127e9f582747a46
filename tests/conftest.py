"""Suite-wide test setup: every Qt test runs headless, and no test touches the user's folders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before anything imports Qt: every GUI test runs without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Every user folder cnnstudio (or a library under it) may write — runs, datasets, torch hub,
# Qt settings, caches — is a temporary one for the whole session, set before any test module
# is imported and inherited by every subprocess a test starts (the CLI, torchrun). A test
# that needs its own folder still sets it with monkeypatch, over this.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="cnnstudio-tests-"))
USER_FOLDERS = {
    "CNNSTUDIO_RUNS": _SESSION_HOME / "runs",
    "CNNSTUDIO_DATA": _SESSION_HOME / "datasets",
    "TORCH_HOME": _SESSION_HOME / "torch",
    "XDG_DATA_HOME": _SESSION_HOME / "data",
    "XDG_CONFIG_HOME": _SESSION_HOME / "config",
    "XDG_CACHE_HOME": _SESSION_HOME / "cache",
}
for _name, _path in USER_FOLDERS.items():
    os.environ[_name] = str(_path)
os.environ["CNNSTUDIO_TEST_HOME"] = str(_SESSION_HOME)  # what tests/test_user_folders.py checks against
