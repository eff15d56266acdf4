"""The real `workbench` command in tmux, at 80x24 and 120x40: keys in, screen out.

tmux runs with `escape-time 0` and TERM=xterm-256color (what VS Code's and most
terminals report); each test has its own tmux server socket, so nothing of the
developer's own tmux is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.needs_engine,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]


def workbench_command() -> str:
    exe = Path(sys.executable).with_name("workbench")
    return str(exe) if exe.exists() else f"{sys.executable} -m workbench"


class Tmux:
    def __init__(self, socket: str, width: int, height: int):
        self.socket = socket
        self.width, self.height = width, height

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=check, timeout=30)

    def start(self, command: str, env: dict[str, str], cwd: Path) -> None:
        self.tmux("start-server", ";", "set", "-s", "escape-time", "0", ";",
                  "set", "-g", "default-terminal", "xterm-256color", ";",
                  "new-session", "-d", "-s", "wb", "-x", str(self.width), "-y", str(self.height),
                  "-c", str(cwd),
                  *[a for k, v in env.items() for a in ("-e", f"{k}={v}")],
                  command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "wb").stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "wb", *(["-l"] if literal else []), *keys)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{screen}")

    def wait_gone(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        screen = self.screen()
        while text in screen and time.monotonic() < deadline:
            time.sleep(0.2)
            screen = self.screen()
        assert text not in screen, f"{text!r} stayed on the screen:\n{screen}"
        return screen

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "wb", check=False).returncode == 0

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


@pytest.fixture
def tmux_at(request, tmp_path):
    sessions: list[Tmux] = []

    def make(width: int, height: int) -> Tmux:
        t = Tmux(f"wb-test-{os.getpid()}-{width}x{height}", width, height)
        sessions.append(t)
        return t

    yield make
    for t in sessions:
        t.kill()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_workbench_in_tmux(tmux_at, tmp_path, size):
    width, height = size
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    env = {
        "WORKBENCH_HOME": str(home),
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "WORKBENCH_NO_BLINK": "1",
    }
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        env[key] = ""  # offline, whatever the developer has set
    t = tmux_at(width, height)
    t.start(workbench_command(), env, work)

    t.wait_for("model offline", 30)
    screen = t.wait_for("Commands", 10)  # the footer, once the first focus has settled
    assert "Lifecycle" in screen or "DESIGN" in screen
    assert "f2" in screen and "Quit" in screen  # the palette key is in the footer
    for title in ("Request captured", "Docs and apply", "Monitor"):
        assert title in screen
    if width >= 120:
        assert "Preview" in screen and "Audit log" in screen and "Spec" in screen
    else:
        assert "Chat  Spec  Preview  Audit log" in screen.replace("│", " ") or "Audit log" in screen

    # the request, typed; the lifecycle runs to the spec gate
    t.wait_for("Describe the tool", 10)
    t.keys("convert csv files to json", literal=True)
    t.keys("Enter")
    t.wait_for("waiting for approval", 60)
    if width < 120:
        t.wait_for("name: csv-converter", 10)  # the draft, in the Spec tab

    # the command palette on its second key (VS Code keeps ctrl+p)
    t.keys("F2")
    t.wait_for("Next step", 10)  # the palette lists the app's commands
    time.sleep(0.3)
    t.keys("Escape")
    t.wait_gone("Search for commands", 10)

    # approve the spec, then the plan
    t.keys("C-n")
    t.wait_for("Approve this spec?", 10)
    t.keys("y")
    t.wait_for("Docs and apply", 10)
    t.wait_for("waiting for approval: the plan", 120)
    t.keys("C-n")
    screen = t.wait_for("Apply the plan to disk?", 10)
    assert "files" in screen and "bytes" in screen
    t.keys("y")
    t.wait_for("all 16 steps done", 240)
    project = work / "csv-converter"
    assert (project / "pyproject.toml").exists() and (project / ".git").is_dir()

    # ctrl+q quits, and the terminal gets its screen back
    t.keys("C-q")
    deadline = time.monotonic() + 15
    while t.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not t.alive(), t.screen()
