"""The real `workbench` command in tmux, at 80x24 and 120x40: keys in, screen out.

tmux runs with `escape-time 0` and TERM=xterm-256color (what VS Code's and most
terminals report); each test has its own tmux server socket, so nothing of the
developer's own tmux is touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
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
        # (without COLUMNS and LINES: under pytest they say 80x24, and the server would hand
        # them to the app, which would then draw 80x24 in any window: the 120x40 run was
        # drawn at 80x24 until this)
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=check, timeout=30, env=env)

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

    def cursor_line(self) -> int | None:
        """The editor's cursor line: the one line whose gutter number is drawn bold."""
        found = re.search(r"\x1b\[1m(?:\x1b\[[0-9;]*m)*\s*(\d+)\s", self.tmux("capture-pane", "-e", "-p", "-t", "wb").stdout)
        return int(found.group(1)) if found else None

    def wait_cursor(self, line: int, timeout: float = 30.0) -> None:
        """Until the editor's cursor is on `line` (1-based): keys are seen handled, in order,
        before the next ones are sent (under load, a Down was once handled after the text
        typed after it)."""
        deadline = time.monotonic() + timeout
        while (at := self.cursor_line()) != line:
            if time.monotonic() > deadline:
                raise AssertionError(f"the cursor is on line {at}, not {line}:\n{self.screen()}")
            time.sleep(0.1)

    def wait_gone(self, text: str, timeout: float = 30.0) -> str:
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
def short_dir():
    """A short folder to launch in, so that a project's path fits a chat line whole."""
    d = Path(tempfile.mkdtemp(prefix="wb", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tmux_at(request, tmp_path):
    sessions: list[Tmux] = []

    def make(width: int, height: int) -> Tmux:
        t = Tmux(f"wb-test-{os.getpid()}-{width}x{height}-{len(sessions)}", width, height)
        sessions.append(t)
        return t

    yield make
    for t in sessions:
        t.kill()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_workbench_in_tmux(tmux_at, tmp_path, size, short_dir):
    width, height = size
    home = tmp_path / "home"
    home.mkdir()
    work = short_dir / "w"
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
    screen = t.wait_for("Commands", 30)  # the footer, once the first focus has settled
    assert "DESIGN" in screen and "SCAFFOLD" in screen and "INTEGRATE" in screen  # the phase bar
    assert "f2" in screen and "Quit" in screen  # the palette key is in the footer
    assert "Chat  Spec  Preview  Audit log  Steps" in screen  # every pane, one key away
    if width >= 120:
        assert "─ Chat ─" in screen, screen

    # the request, typed; the lifecycle runs to the spec gate
    t.wait_for("Describe the tool", 30)
    t.keys("convert csv files to json", literal=True)
    t.keys("Enter")
    # before anything is drafted: where the project goes (here: the folder launched in,
    # which is outside any git repository)
    screen = t.wait_for("Where should the project go?", 30)
    assert "Outside any git repository" in screen
    t.keys("Enter")
    t.wait_for("waiting for approval", 60)
    if width < 120:
        t.wait_for("name: csv-converter", 30)  # the draft, in the Spec tab

    # the command palette on both keys: ctrl+p, and F2 (VS Code keeps ctrl+p for itself)
    for key in ("C-p", "F2"):
        t.keys(key)
        t.wait_for("Next step", 30)  # the palette lists the app's commands
        time.sleep(0.3)
        t.keys("Escape")
        t.wait_gone("Search for commands")

    # approve the spec, then the plan
    t.keys("C-n")
    t.wait_for("Approve spec v", 30)
    t.keys("y")
    t.wait_for("Docs and apply", 120)
    t.wait_for("waiting for approval: the plan", 120)
    t.keys("C-n")
    screen = t.wait_for("Apply the plan to disk?", 30)
    assert "files" in screen and "bytes" in screen
    t.keys("y")
    t.wait_for("all 16 steps done", 240)
    project = work / "csv-converter"
    assert (project / "pyproject.toml").exists() and (project / ".git").is_dir()
    # the last message, in the chat: where the project is, and what to run next
    screen = t.wait_for("run the tests", 30)
    assert "csv-converter" in screen and "pytest" in screen, screen
    assert f"cd {project}" in screen, screen

    # ctrl+q quits, and the terminal gets its screen back
    t.keys("C-q")
    deadline = time.monotonic() + 60
    while t.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not t.alive(), t.screen()

    # reopened: the session as it truly is, and Ctrl+N says so
    from workbench.store import Store

    store = Store(home / "workbench.db")
    sid = store.list_sessions(limit=1)[0]["id"]
    store.close()
    t.kill()
    t = tmux_at(width, height)
    t.start(f"{workbench_command()} --session {sid[:10]}", env, work)
    t.wait_for("all 16 steps done", 60)
    screen = t.wait_for("run the tests", 30)  # the reopened session's message: what is next
    assert "Ctrl+N to continue" not in screen
    assert f"cd {project}" in screen, screen
    # the approved spec ("✓ valid", read-only) and the applied plan, each a key away
    t.keys("C-t")
    panes = [t.wait_for("✓ valid", 30)]
    t.keys("C-t")
    panes.append(t.wait_for(".devcontainer/", 60))
    seen = "\n".join(panes)
    assert "No spec yet" not in seen and "No plan yet" not in seen, seen
    assert "approved · read-only" in seen or width < 120, seen
    t.keys("C-n")  # says what is true, instead of nothing
    t.wait_for("Done: the project is at", 30)
    t.keys("C-q")


def pane_widths(screen: str) -> dict[str, int]:
    """The width of each bordered pane, from its top border (`╭─ Spec ───╮`)."""
    import re

    out = {}
    for line in screen.splitlines():
        for m in re.finditer(r"╭─ ([A-Za-z ]+?) ─[─]*╮", line):
            out[m.group(1)] = len(m.group(0))
    return out


def test_layout_and_keys_in_tmux(tmux_at, tmp_path, short_dir):
    """120x40: the focused spec editor shows 80 columns of a long line and is the largest
    pane; a [keys] remap takes effect; F1 lists the focused pane's keys."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[keys]\nnext = "ctrl+e"\n')
    work = short_dir / "w"
    work.mkdir()
    env = {"WORKBENCH_HOME": str(home), "TERM": "xterm-256color", "COLORTERM": "truecolor",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "WORKBENCH_NO_BLINK": "1",
           "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "GEMINI_API_KEY": ""}
    t = tmux_at(120, 40)
    t.start(workbench_command(), env, work)
    t.wait_for("Describe the tool", 30)
    t.keys("convert csv files to json", literal=True)
    t.keys("Enter")
    t.wait_for("Where should the project go?", 30)
    t.keys("Enter")
    t.wait_for("^e to review", 120)  # the status names the remapped key

    t.keys("C-t")  # to the spec editor
    deadline = time.monotonic() + 30
    while pane_widths(t.screen()).get("Spec", 0) < 86 and time.monotonic() < deadline:
        time.sleep(0.2)  # the focus has moved once the spec pane has the room
    # (the draft was loaded, the cursor at its top, before the status above was drawn: the
    # engine's events are all drawn before the end of its call)
    t.wait_cursor(1)
    t.keys("Down")  # line 2, inside the front matter: a YAML comment keeps the spec valid
    t.wait_cursor(2)
    long = "".join(str(i % 10) for i in range(110))
    t.keys(f"# {long}", literal=True)
    t.keys("Enter")
    t.wait_cursor(3)
    screen = t.wait_for(f"# {long}"[:80], 30)  # 80 columns of the long line, on screen at once
    widths = pane_widths(screen)
    assert widths["Spec"] > widths.get("Chat", 0) and widths["Spec"] >= 86, (widths, screen)

    t.keys("F1")
    screen = t.wait_for("Diff", 30)
    assert "toggle" in screen.lower() or "diff" in screen.lower()
    t.keys("F1")
    t.keys("C-n")  # no longer Next: nothing opens
    time.sleep(0.5)
    assert "Approve spec v" not in t.screen()
    t.keys("C-e")  # the remapped Next: the edit is reviewed, then its gate opens
    t.wait_for("Approve spec v", 60)
    t.keys("C-q")
