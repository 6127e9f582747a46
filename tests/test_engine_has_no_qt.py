"""The engine and the command line never pull in Qt: the line between the two faces."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import importlib, pkgutil, sys
import cnnstudio
names = [m.name for m in pkgutil.walk_packages(cnnstudio.__path__, "cnnstudio.")
         if not m.name.startswith("cnnstudio.gui") and m.name != "cnnstudio.__main__"]
for name in names:
    importlib.import_module(name)
qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6"))
print(len(names), qt)
assert not qt, qt
"""


@pytest.mark.slow
def test_importing_every_engine_module_and_the_cli_loads_no_qt() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count = int(out.stdout.split()[0])
    assert count >= 15  # the walk really found the engine's modules


def test_catalogs_load_without_torch() -> None:
    # The app paints its architecture and dataset lists before torch has loaded.
    code = ("import sys, cnnstudio.models.catalog as m, cnnstudio.data.catalog as d; "
            "assert m.list_models() and d.list_datasets(); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_torch_free_records_and_choices_load_without_torch() -> None:
    # The window names these types in its signals and fills its form from them before torch
    # has loaded; the command line parses its arguments with them.
    code = ("import sys, cnnstudio.choices, cnnstudio.data.spec, cnnstudio.data.layout, "
            "cnnstudio.training.fit.callbacks, cnnstudio.training.config, cnnstudio.training.store.runs, cnnstudio.cli; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_command_line_parses_and_lists_without_torch() -> None:
    # `cnnstudio list` and every verb's --help answer at once: building the parser (every verb's
    # choices included) and listing the catalogs must not load torch (5 s on a 2-core machine).
    code = ("import sys, contextlib, io; from cnnstudio.cli import build_parser, main; build_parser(); "
            "out = io.StringIO(); cm = contextlib.redirect_stdout(out); cm.__enter__(); rc = main(['list']); "
            "cm.__exit__(None, None, None); assert rc == 0 and 'Architectures' in out.getvalue(); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
