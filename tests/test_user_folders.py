"""The suite never writes into the user's own folders: every default folder is the session's temporary one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HOME = Path(os.environ["CNNSTUDIO_TEST_HOME"])


def test_every_default_folder_is_the_sessions_temporary_one():
    from cnnstudio.data.torchvision_sets import default_data_root
    from cnnstudio.training.store.runs import default_runs_dir

    assert default_runs_dir().is_relative_to(HOME)
    assert default_data_root().is_relative_to(HOME)
    assert not HOME.is_relative_to(Path.home())


@pytest.mark.slow
def test_a_subprocess_inherits_the_temporary_folders():
    code = "import torch.hub, platformdirs; print(torch.hub.get_dir()); print(platformdirs.user_data_path('cnnstudio'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert Path(out[0]).is_relative_to(HOME)
    assert Path(out[1]).is_relative_to(HOME)
