"""The speed benchmark runs: its quickest mode prints a table and writes valid JSON (a smoke test, not a timing)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.mark.slow
def test_quick_data_path_section_prints_a_table_and_writes_json(tmp_path):
    env = dict(os.environ, CNNSTUDIO_RUNS=str(tmp_path / "runs"), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "b", "--device", "cpu", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "machine:" in proc.stdout and "cores" in proc.stdout
    assert "(b) data path" in proc.stdout
    assert "≥ 3×" in proc.stdout  # the target stands beside the figure
    files = list((tmp_path / "out").glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text(encoding="utf-8"))
    assert data["machine"]["device"] == "cpu"
    assert set(data["sections"]) == {"b"}
    section = data["sections"]["b"]
    assert section["notes"] == [], section["notes"]  # the section did not fail
    ratio = next(f for f in section["figures"] if f["key"] == "b.ratio")
    assert ratio["value"] is not None and math.isfinite(ratio["value"]) and ratio["value"] > 0
    assert ratio["target"] == "≥ 3×" and isinstance(ratio["met"], bool)
    assert f"{ratio['value']:.2f}×" in proc.stdout  # the printed table shows the JSON's figure

