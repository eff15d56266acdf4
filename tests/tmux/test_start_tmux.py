"""tmux: a plain `workbench` with an earlier session shows the start screen, which lists
it; Enter reopens it at its true state (waiting at the spec gate, its spec in the editor)."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from test_tui_tmux import short_dir, tmux_at, workbench_command  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.needs_engine,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

REQUEST = "count words in text files"


def tmux_env(home, tmp_path) -> dict[str, str]:
    env = {"WORKBENCH_HOME": str(home), "TERM": "xterm-256color", "COLORTERM": "truecolor",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "WORKBENCH_NO_BLINK": "1"}
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        env[key] = ""
    return env


def test_start_screen_lists_an_earlier_session_and_enter_reopens_it(tmux_at, tmp_path, short_dir):  # noqa: F811
    from workbench.lifecycle.engine import Engine, Options
    from workbench.llm.offline import OfflineAgents
    from workbench.store import Store

    home = tmp_path / "home"
    home.mkdir()
    store = Store(home / "workbench.db")
    engine = Engine(store, OfflineAgents(), options=Options(run_monitor=False, allow_unsandboxed=True))
    sid = engine.start(REQUEST, short_dir / "words")
    assert engine.run(sid).status == "gate"
    name = store.get_spec_version(sid)["text"].split("name: ", 1)[1].split()[0]
    engine.close()
    store.close()

    t = tmux_at(120, 40)
    t.start(workbench_command(), tmux_env(home, tmp_path), short_dir)
    screen = t.wait_for("pick up where you left off", 30)
    assert sid[:8] in screen and REQUEST in screen and "waiting" in screen, screen
    assert "New tool" in screen
    time.sleep(0.3)
    t.keys("Enter")
    t.wait_gone("pick up where you left off")
    t.wait_for("waiting for approval: the spec", 60)
    t.wait_for("Reopened session", 30)  # the chat says so
    t.wait_for(f"name: {name}", 30)  # its spec, in the editor
    t.wait_gone("No spec yet")
    t.keys("C-q")
