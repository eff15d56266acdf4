"""The newcomer's first minutes in the TUI (issue 12): both palette keys, where a project
goes and what is read, a reopened session as it truly is, the Models screen's config
snippet, and the last message of a run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from screen_text import screen_text
from textual.command import CommandPalette
from textual.widgets import Checkbox, Input
from ui_support import wait_for

from workbench.ui.app import WorkbenchApp
from workbench.ui.backend import default_projects_base, git_root, project_dir
from workbench.ui.next_steps import finish_message, next_commands
from workbench.ui.screens.folder import FolderScreen, check_folder
from workbench.ui.screens.models import ModelsScreen
from workbench.ui.screens.sessions import SessionsScreen

pytestmark = pytest.mark.anyio

REQUEST = "convert csv files to json"
MARKER = "ZEBRA-CONTEXT-4417"  # in the enclosing repository's README: read or not?


def plain(widget) -> str:
    """A widget's text as shown (long paths wrap on screen)."""
    return str(widget.render())


def make_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "README.md").write_text(f"# The enclosing project\n\n{MARKER}\n")
    (root / "pyproject.toml").write_text('[project]\nname = "enclosing"\n')
    return root


@pytest.fixture
def in_repo(tmp_path, monkeypatch) -> Path:
    """The TUI launched from inside a checkout (its cwd is a subfolder of a git repo)."""
    repo = make_repo(tmp_path / "checkout")
    sub = repo / "src"
    sub.mkdir()
    monkeypatch.chdir(sub)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return repo


# -- the command palette: F2 and ctrl+p ----------------------------------------------

@pytest.mark.parametrize("key", ["f2", "ctrl+p"])
async def test_both_keys_open_the_palette_from_the_chat_and_the_editor(fake_backend, out_dir, key):
    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for focus in (lambda: app.chat.input, lambda: app.editor.text_area):
            focus().focus()
            await pilot.pause()
            await pilot.press(key)
            assert await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), 5), key
            await pilot.press("escape")
            assert await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), 5)


# -- the Models screen ---------------------------------------------------------------

async def test_models_screen_shows_the_config_snippet_literally_and_its_path(fake_backend, out_dir, wb_env):
    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.action_show_models()
        assert await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))
        text = screen_text(app)
        assert "[workbench]" in text and "[models.claude]" in text  # not swallowed as markup
        help_ = plain(app.screen.query_one("#models-help"))
        assert f"Config file: {wb_env / 'config.toml'}  (not created yet)" in help_


def test_models_screen_config_path_without_workbench_home(monkeypatch, tmp_path):
    """No WORKBENCH_HOME: the platform's config folder, named in full."""
    from workbench import paths
    from workbench.ui.screens.models import how_to_add

    monkeypatch.delenv("WORKBENCH_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    where = str(paths.config_path())
    assert where.startswith(str(tmp_path / "cfg")) and where in how_to_add(where)


# -- where projects go, and what is read ----------------------------------------------

def test_the_default_folder_is_never_inside_a_repository(tmp_path):
    repo = make_repo(tmp_path / "checkout")
    home = tmp_path / "home"
    assert default_projects_base(repo / "deep", home) == home / "workbench-projects"
    assert git_root(default_projects_base(repo, home)) is None
    plain = tmp_path / "plain"
    plain.mkdir()
    assert default_projects_base(plain, home) == plain  # launched outside a repo: here


def test_check_folder_names_what_is_wrong(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "file").write_text("x")
    assert check_folder(str(tmp_path / "new" / "tool")) == (tmp_path / "new" / "tool", "")
    assert check_folder(str(tmp_path / "full"))[1].endswith("is not empty: choose a new or empty folder.")
    assert "is a file" in check_folder(str(tmp_path / "file"))[1]
    assert "is a file" in check_folder(str(tmp_path / "file" / "sub"))[1]
    assert check_folder("  ")[0] is None
    assert check_folder("rel/tool", cwd=tmp_path)[0] == tmp_path / "rel" / "tool"


@pytest.mark.needs_engine
async def test_the_folder_is_asked_before_drafting_and_the_repo_is_not_read(real_backend, in_repo, tmp_path):
    app = WorkbenchApp(real_backend)  # plain `workbench`: no folder given
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: real_backend.ready), real_backend.error
        app.chat.input.focus()
        await pilot.press(*REQUEST, "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FolderScreen))
        offered = Path(app.screen.query_one(Input).value)
        assert offered == project_dir(tmp_path / "home" / "workbench-projects", REQUEST)
        assert git_root(offered) is None
        assert "Outside any git repository" in plain(app.screen.query_one("#folder-note"))
        # Esc: nothing started, the request is still there to edit
        await pilot.press("escape")
        await pilot.pause()
        assert real_backend.session_id is None and app.chat.input.value == REQUEST
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FolderScreen))
        await pilot.press("enter")  # the offered folder
        assert await wait_for(pilot, lambda: app.waiting_gate is not None and not app.busy, 60)
        sid = real_backend.session_id
        store = real_backend.store
        assert Path(store.get_session(sid)["out_dir"]) == offered and app.project_dir == offered
        assert MARKER not in store.get_output(sid, "analysis", "analysis")
        assert f"The project goes to `{offered}`" in " ".join(t.text for t in app.chat.turns)
        assert not offered.exists()  # nothing written before the plan is approved


@pytest.mark.needs_engine
@pytest.mark.parametrize("tick", [False, True], ids=["not-ticked", "ticked"])
async def test_building_inside_a_repo_reads_it_only_when_chosen(real_backend, in_repo, tick):
    app = WorkbenchApp(real_backend)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: real_backend.ready), real_backend.error
        app.chat.input.focus()
        await pilot.press(*REQUEST, "enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FolderScreen))
        field = app.screen.query_one(Input)
        field.value = str(in_repo / "tools" / "csv")
        await pilot.pause()
        box = app.screen.query_one(Checkbox)
        assert box.display and not box.value  # offered, never ticked for you
        assert f"Inside the git repository {in_repo}." in plain(app.screen.query_one("#folder-note"))
        if tick:
            box.value = True
        field.focus()
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: app.waiting_gate is not None and not app.busy, 60)
        sid = real_backend.session_id
        analysis = real_backend.store.get_output(sid, "analysis", "analysis")
        assert (MARKER in analysis) is tick
        line = real_backend.engine.status_messages(sid)["analysis"]
        assert ("read as context: README.md, pyproject.toml" in line) is tick


@pytest.mark.needs_engine
def test_headless_start_reads_the_repo_its_out_is_in_and_says_so(tmp_path):
    """`new --out` inside a repository chose it: read, and the step says what was read.
    An explicit read_context=False reads nothing."""
    from workbench.lifecycle.engine import Engine
    from workbench.llm.offline import OfflineAgents
    from workbench.store import Store

    repo = make_repo(tmp_path / "checkout")
    store = Store(tmp_path / "wb.db")
    engine = Engine(store, OfflineAgents())
    for read_context, expect in ((None, True), (False, False), (True, True)):
        sid = engine.start(REQUEST, repo / f"tool-{read_context}", read_context=read_context)
        engine.run(sid, until="analysis")
        assert (MARKER in store.get_output(sid, "analysis", "analysis")) is expect
        line = engine.status_messages(sid)["analysis"]
        assert (f"read as context: README.md, pyproject.toml in {repo}" in line) is expect, line
    store.close()


# -- reopening a session --------------------------------------------------------------

def finished_session(tmp_path: Path) -> tuple[str, Path, str]:
    """A session run to the end headless (offline, monitor off): (id, project, approved spec)."""
    from workbench.lifecycle.engine import Engine, Options
    from workbench.llm.offline import OfflineAgents
    from workbench.paths import db_path
    from workbench.store import Store

    store = Store(db_path())
    engine = Engine(store, OfflineAgents(), options=Options(run_monitor=False,
                                                          allow_unsandboxed=True))
    project = tmp_path / "made" / "csv-files"
    sid = engine.start(REQUEST, project)
    outcome = engine.run(sid)
    while outcome.status == "gate":
        engine.approve(sid, outcome.gate, outcome.sha256, "human:test")
        outcome = engine.run(sid)
    assert outcome.status == "done", outcome
    approved = store.get_spec_version(sid)["text"]
    engine.close()
    store.close()
    return sid, project, approved


@pytest.mark.needs_engine
async def test_a_reopened_finished_session_shows_its_true_state(real_backend, tmp_path, out_dir):
    sid, project, approved = finished_session(tmp_path)
    app = WorkbenchApp(real_backend, out_dir=out_dir, resume_session=sid[:8])
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: real_backend.session_id == sid)
        assert await wait_for(pilot, lambda: bool(app.preview.files), 20)
        app.action_show_pane("spec")  # (a finished session shows its chat and audit first)
        assert await wait_for(pilot, lambda: "✓ valid" in screen_text(app), 10)
        text = screen_text(app)
        assert "No spec yet" not in text
        app.action_show_pane("preview")
        await pilot.pause()
        assert "No plan yet" not in screen_text(app) and "applied to disk" in screen_text(app)
        assert app.editor.text == approved and app.editor.text_area.read_only
        assert app.preview.applied
        assert "pyproject.toml" in app.preview.files
        assert all(state == "done" for state in app.stepper.states.values())
        assert "all 16 steps done" in text
        last = app.chat.turns[-1].text
        assert f"The project is at `{project}`" in last and "Press **Ctrl+N** to continue" not in last
        assert "pytest" in last and "commands.py" in last
        notes: list[str] = []
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert notes == [f"Done: the project is at {project}."]


@pytest.mark.needs_engine
async def test_plain_workbench_mentions_earlier_sessions_and_the_palette_reopens_one(
        real_backend, tmp_path, out_dir):
    sid, project, approved = finished_session(tmp_path)
    app = WorkbenchApp(real_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: any("earlier session" in t.text for t in app.chat.turns))
        note = next(t.text for t in app.chat.turns if "earlier session" in t.text)
        assert note.startswith("1 earlier session, the latest") and sid[:12] in note
        assert "workbench --session ID" in note and "Open session…" in note
        await pilot.press("f2")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Open session")
        await pilot.pause(0.3)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen))
        assert sid[:12] in screen_text(app) and REQUEST in screen_text(app)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: real_backend.session_id == sid)
        assert await wait_for(pilot, lambda: app.editor.text == approved)
        assert await wait_for(pilot, lambda: bool(app.preview.files), 20)


# -- the end of the lifecycle -----------------------------------------------------------

def test_next_commands_follow_the_template(tmp_path):
    (tmp_path / "src" / "tool").mkdir(parents=True)
    (tmp_path / "src" / "tool" / "commands.py").write_text("")
    py = [c for _, cmds in next_commands("python-cli", tmp_path) for c in cmds]
    assert py[0] == f"cd {tmp_path}" and "pip install -e '.[dev]'" in py
    assert "$EDITOR src/tool/commands.py" in py and py[-1] == "pytest"
    sh = [c for _, cmds in next_commands("bash-cli", tmp_path / "x y") for c in cmds]
    assert sh[0] == f"cd '{tmp_path / 'x y'}'" and sh[-1] == "make check"
    assert not any("pip" in c for c in sh)
    assert f"The project is at `{tmp_path}`" in finish_message(tmp_path, "python-cli")


async def test_the_run_ends_with_a_chat_message_naming_the_project(fake_backend, out_dir):
    from workbench.ui.screens.gate import ApprovalScreen

    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: fake_backend.ready)
        app.chat.input.value = REQUEST
        app.chat.input.focus()
        await pilot.press("enter")
        for _gate in ("spec", "plan"):
            assert await wait_for(pilot, lambda: app.waiting_gate is not None and not app.busy)
            await pilot.press("ctrl+n")
            assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
            await pilot.press("y")
        assert await wait_for(pilot, lambda: app.stepper.states["monitor"] == "done" and not app.busy)
        assert await wait_for(pilot, lambda: "Done: all 16 steps" in app.chat.turns[-1].text)
        last = app.chat.turns[-1].text
        assert f"`{app.project_dir}`" in last and f"cd {app.project_dir}" in last
        assert app.active_pane == "chat"  # at 80 columns, the message is the tab in view
        shown = screen_text(app)  # (the end of the message, in view)
        assert app.project_dir.name in shown and "run the tests" in shown, shown


def test_no_textual_in_next_steps():
    import sys

    code = "import sys, workbench.ui.next_steps; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ}, check=True)
    assert out.stdout.strip() == "False"
