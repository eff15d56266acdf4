"""`workbench sessions` shows a long request cut at a word, never mid-word."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workbench.cli.headless import _shorten

ROOT = Path(__file__).resolve().parents[2]


def test_shorten_cuts_at_a_word_boundary():
    text = "Find duplicate photos by hashing their contents and print them grouped by folder"
    short = _shorten(text, 48)
    assert len(short) <= 48 and short.endswith("…")
    kept = short.rstrip(" …").split()
    assert kept == text.split()[: len(kept)], "every word kept is whole"
    assert _shorten("short  request", 48) == "short request"
    assert len(_shorten("x" * 100, 48)) == 48


def test_sessions_table_keeps_whole_words(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(WORKBENCH_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT), COLUMNS="200")
    request = "Find duplicate photos by hashing their contents and print them grouped by folder"
    r = subprocess.run([sys.executable, "-m", "workbench", "new", request, "--out", str(tmp_path / "p")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 3, r.stderr
    r = subprocess.run([sys.executable, "-m", "workbench", "sessions"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0
    assert "Find duplicate photos by hashing their" in r.stdout
    assert "contents and print them grouped by folder" not in r.stdout
    assert "hashi " not in r.stdout and "hashin" not in r.stdout.replace("hashing", "")
