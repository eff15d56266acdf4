"""`workbench serve`: the TUI behind textual-serve, reachable over HTTP on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from workbench.ui.serve import command, public_url

ROOT = Path(__file__).resolve().parents[2]


def test_public_url_for_a_codespace():
    env = {"CODESPACE_NAME": "ada-abc123", "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": "app.github.dev"}
    assert public_url("0.0.0.0", 8000, env) == "https://ada-abc123-8000.app.github.dev"
    assert public_url("127.0.0.1", 8000, {}) is None
    assert public_url("127.0.0.1", 9, {"WORKBENCH_PUBLIC_URL": "https://x.example/"}) == "https://x.example"


def test_each_browser_session_runs_this_python():
    assert command().endswith("-m workbench") and sys.executable in command()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_with_the_app_page(tmp_path):
    port = _free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.2)
        assert "Workbench" in body and "textual" in body.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
