"""Every Python file Workbench ships compiles without a warning: Python 3.12 turns an
invalid escape such as '\\`' in a docstring into a SyntaxWarning printed to the user at
the first import of a fresh install."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import workbench

ROOT = Path(workbench.__file__).parent


def test_the_package_compiles_without_warnings() -> None:
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 50
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_the_check_fails_on_an_invalid_escape() -> None:
    with warnings.catch_warnings(), pytest.raises(SyntaxError):
        warnings.simplefilter("error")
        compile('"""a \\` b"""\n', "bad.py", "exec")
