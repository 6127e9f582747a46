"""The README gives a CPU-only install route and says what each route weighs (issue 22, item 6)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


def _blocks(text: str) -> list[str]:
    return re.findall(r"```\n(.*?)\n```", text, flags=re.S)


def test_the_readme_gives_the_cpu_only_route_next_to_the_default_with_sizes() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = _blocks(readme)
    # The default route is kept: the two commands, unchanged.
    default = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/cnnstudio"
    assert default in blocks
    assert "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest" in blocks
    # The CPU-only route installs torch and torchvision from PyTorch's CPU index before the package.
    cpu = [b for b in blocks if CPU_INDEX in b]
    assert len(cpu) == 1, cpu
    first, _, rest = cpu[0].partition(CPU_INDEX)
    assert "pip install torch torchvision" in first and "pip install -e ." in rest and rest.endswith("cnnstudio")
    # Each route says what it weighs, in the paragraph before the CPU block.
    before = readme[: readme.index(cpu[0])].rsplit("\n\n", 2)[-2]
    assert re.search(r"\d(\.\d)? GB `\.venv`", before) and "under 2 GB" in before, before
