"""The README's Python examples and the docstring examples run as written."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

import tvae.synthesizer

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
RUNNABLE = [b for b in BLOCKS if "known_values_frame" not in b and "held_out_real_rows" not in b]


def test_readme_has_python_examples():
    assert len(RUNNABLE) >= 2


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"block{i}" for i in range(len(RUNNABLE))])
def test_readme_python_block_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write model files
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})


def test_synthesizer_docstring_examples():
    result = doctest.testmod(tvae.synthesizer, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
