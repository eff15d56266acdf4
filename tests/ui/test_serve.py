"""`workbench serve`: the TUI behind textual-serve, reachable over HTTP on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from workbench.ui.serve import argv, command, public_url

ROOT = Path(__file__).resolve().parents[2]


def test_public_url_for_a_codespace():
    env = {"CODESPACE_NAME": "ada-abc123", "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": "app.github.dev"}
    assert public_url("0.0.0.0", 8000, env) == "https://ada-abc123-8000.app.github.dev"
    assert public_url("127.0.0.1", 8000, {}) is None
    assert public_url("127.0.0.1", 9, {"WORKBENCH_PUBLIC_URL": "https://x.example/"}) == "https://x.example"


def test_each_browser_session_runs_this_python():
    assert command().endswith("-m workbench") and sys.executable in command()
    assert argv() == [sys.executable, "-m", "workbench"]  # no shell in between


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


# -- no process outlives its client or the server --------------------------------------

def _group(pgid: int) -> list[tuple[int, str]]:
    """Every live process in process group `pgid` or whose parent is `pgid` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        state, ppid, group = fields[0], int(fields[1]), int(fields[2])
        if state != "Z" and (group == pgid or ppid == pgid):
            out.append((int(entry), stat[stat.index("(") + 1:stat.rindex(")")]))
    return out


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def _start_serve(tmp_path: Path) -> tuple[int, subprocess.Popen]:
    """`workbench serve` on a free loopback port, in a session of its own (its process
    group is its pid, so whatever it starts can be found)."""
    port = _free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "WORKBENCH_NO_BLINK": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    return port, proc


def _ws_request(port: int) -> bytes:
    import base64

    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /ws?width=80&height=24 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks /proc")
def test_aborted_connections_and_sigterm_leave_no_process(tmp_path):
    """20 browsers that go away early (nothing sent, half a request, half a websocket
    handshake, a websocket closed at once, a websocket held open and silent), then
    SIGTERM: the server exits promptly and not one app process is left."""
    port, proc = _start_serve(tmp_path)
    held: list[socket.socket] = []
    try:
        assert _wait(lambda: _connects(port), 30), "serve never listened"
        kinds = ["none", "http-partial", "ws-partial", "ws-closed", "ws-held"] * 4
        for kind in kinds:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if kind == "http-partial":
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            elif kind == "ws-partial":
                s.sendall(_ws_request(port)[:40])
            elif kind.startswith("ws-"):
                s.sendall(_ws_request(port))
            if kind == "ws-held":
                held.append(s)
            else:
                s.close()
        # the held websockets each run an app (so there is something to stop) ...
        apps = lambda: [p for p in _group(proc.pid) if p[0] != proc.pid]  # noqa: E731
        assert _wait(lambda: len(apps()) >= len(held), 30), apps()
        # ... and once every closed client's app has gone, only theirs are left
        assert _wait(lambda: len(apps()) == len(held), 30), apps()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)  # held, silent clients cannot keep the server up
        assert _wait(lambda: not _group(proc.pid), 10), _group(proc.pid)
    finally:
        for s in held:
            s.close()
        if proc.poll() is None:
            proc.kill()
        for pid, _name in _group(proc.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks /proc")
def test_apps_die_with_a_killed_server(tmp_path):
    """SIGKILL gives the server no chance to clean up: its apps die with it (Linux)."""
    port, proc = _start_serve(tmp_path)
    held = []
    try:
        assert _wait(lambda: _connects(port), 30), "serve never listened"
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(_ws_request(port))
            held.append(s)
        assert _wait(lambda: len(_group(proc.pid)) >= 3, 30), _group(proc.pid)
        proc.kill()
        proc.wait(timeout=10)
        assert _wait(lambda: not _group(proc.pid), 10), _group(proc.pid)
    finally:
        for s in held:
            s.close()
        for pid, _name in _group(proc.pid):
            os.kill(pid, signal.SIGKILL)


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
