"""The suite never writes into the user's own folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import USER_FOLDERS


def test_every_default_folder_is_the_sessions_temporary_one():
    from cnnstudio.data.torchvision_sets import default_data_root
    from cnnstudio.training.store.runs import default_runs_dir

    assert default_runs_dir() == USER_FOLDERS["CNNSTUDIO_RUNS"]
    assert default_data_root() == USER_FOLDERS["CNNSTUDIO_DATA"]


def test_a_subprocess_inherits_the_temporary_folders():
    code = "import torch.hub, platformdirs; print(torch.hub.get_dir()); print(platformdirs.user_data_path('cnnstudio'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert Path(out[0]).is_relative_to(USER_FOLDERS["TORCH_HOME"])
    assert Path(out[1]).is_relative_to(USER_FOLDERS["XDG_DATA_HOME"])
