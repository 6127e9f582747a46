"""Suite-wide test setup: every Qt test runs headless, and no test touches the user's folders."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Before anything imports Qt: every GUI test runs without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Every user folder cnnstudio (or a library under it) may write — runs, datasets, torch hub,
# Qt settings, caches — is a temporary one for the whole session, set before any test module
# is imported and inherited by every subprocess a test starts (the CLI, torchrun). A test
# that needs its own folder still sets it with monkeypatch, over this.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="cnnstudio-tests-"))
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)  # the session's folders go with it
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


# -- fixtures shared across folders (helpers themselves live in tests/helpers/) ------------------
import pytest  # noqa: E402 - after the environment above, which must come first


# Past pytest-timeout's limit (pyproject.toml): only a test that pytest-timeout could not end.
HANG_S = 420


@pytest.fixture(scope="session")
def _real_stderr(request) -> int:
    """A copy of the run's own stderr, beneath pytest's capture (where a dying process's report must go)."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.suspend_global_capture(in_=False)
    try:
        return os.dup(2)
    finally:
        if capman is not None:
            capman.resume_global_capture()


@pytest.fixture(autouse=True)
def hang_watchdog(_real_stderr: int):
    """End the whole run, with every thread's stack, if a test hangs past `HANG_S`.

    pytest-timeout's thread method needs the GIL to act; a test stuck inside Qt's C++ while
    holding it (a QThreadPool's destructor waiting for a job) sat a CI run for 90 minutes.
    faulthandler's watchdog is a C thread of its own and needs nothing from Python.
    """
    import faulthandler

    faulthandler.dump_traceback_later(HANG_S, exit=True, file=_real_stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def bundle():
    """A tiny learnable dataset (tests.helpers.training.make_bundle)."""
    from tests.helpers.training import make_bundle

    return make_bundle()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """Where a test's run folder goes (not created)."""
    return tmp_path / "run"


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small image folder whose classes are where a bright block sits (one per module)."""
    from tests.helpers.training import make_block_folder

    return make_block_folder(tmp_path_factory.mktemp("data") / "blocks")


@pytest.fixture
def one_thread():
    """PyTorch on one thread for the test: on a shared 2-core box, tiny ops on two threads wait
    on each other (a LeNet forward of 4 images measured at 0.35 ms on one, 12–86 ms on two)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def one_default_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fit the test starts uses one thread (cnnstudio's default thread count is 1): ops this
    small only lose to thread hand-offs (as `tiny_config`'s num_threads=1 says)."""
    from cnnstudio import threads

    monkeypatch.setattr(threads, "default_threads", lambda: 1)


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run folders of this test go to its tmp folder (CNNSTUDIO_RUNS)."""
    path = tmp_path / "runs"
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(path))
    return path
