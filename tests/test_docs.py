"""The README's examples and the docstring examples run as written.

Python blocks of README.md run in order in one namespace, as one session would run them.
Shell blocks (```bash) of README.md and docs/*.md run in a fresh folder with ``bash -e``; a
block preceded by ``<!-- skip-test: reason -->`` is skipped (keep these few: fresh-machine setup,
several torchrun workers, many nodes or GPUs). To keep the suite fast, ``tvae`` in a shell block
is a function that runs this checkout's ``python -m tvae`` and adds ``--epochs 1`` to a
``tvae fit`` without ``--epochs`` (and ``--epochs 1 --train-rows 300 --rows 300`` to
``tvae demo``); everything else runs exactly as written.
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tvae.synthesizer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
SHELL = re.compile(
    r"(?:<!--\s*skip-test:?\s*(?P<reason>.*?)\s*-->\s*\n)?```bash\n(?P<code>.*?)```", re.S
)
MAX_SKIPPED = 6
PRELUDE = r"""
tvae() {
  local verb="$1"; shift
  case "$verb" in
    fit) if [[ " $* " != *" --epochs "* ]]; then set -- "$@" --epochs 1; fi ;;
    demo) set -- "$@" --epochs 1 --train-rows 300 --rows 300 ;;
  esac
  "$TVAE_PYTHON" -m tvae "$verb" "$@"
}
python() { "$TVAE_PYTHON" "$@"; }
"""


def shell_blocks() -> list:
    params = []
    for path in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for i, match in enumerate(SHELL.finditer(path.read_text(encoding="utf-8"))):
            marks = []
            if match.group("reason") is not None:
                marks = [pytest.mark.skip(reason=f"skip-test: {match.group('reason')}")]
            params.append(pytest.param(match.group("code"), id=f"{path.name}-{i}", marks=marks))
    return params


SHELL_BLOCKS = shell_blocks()


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 4


def test_readme_python_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write model files and reports
    namespace = {"__name__": "readme"}
    for block in BLOCKS:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "report.html").exists()


def test_few_shell_blocks_are_skipped():
    skipped = [p for p in SHELL_BLOCKS if p.marks]
    assert len(SHELL_BLOCKS) - len(skipped) >= 2 and len(skipped) <= MAX_SKIPPED
    for param in skipped:
        assert param.marks[0].kwargs["reason"].strip() != "skip-test:", param.id  # has a reason


@pytest.mark.parametrize("code", SHELL_BLOCKS)
def test_shell_block_runs(code, tmp_path):
    if "sqlite:///" in code and importlib.util.find_spec("sqlalchemy") is None:
        pytest.skip("needs the sql extra (SQLAlchemy)")
    env = {
        **os.environ,
        "TVAE_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    script = f"set -euo pipefail\n{PRELUDE}\n{code}"
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (
        f"{code}\n--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


def test_ci_runs_exactly_the_readme_test_command():
    text = README.read_text(encoding="utf-8")
    command = next(
        m.group("code").strip() for m in SHELL.finditer(text) if "pytest" in m.group("code")
    )
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command in ci
    assert any("agreement" in line and "pytest" in line for line in ci)


def test_synthesizer_docstring_examples():
    result = doctest.testmod(tvae.synthesizer, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
