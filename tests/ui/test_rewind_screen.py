"""Rewind… in the TUI (issue 14 §4): Workbench's commits of the project, the revert diff
previewed, undo on confirmation as a new commit, a refusal shown plainly."""

from __future__ import annotations

from pathlib import Path

import pytest
from screen_host import Host, copy_project, git, make_project
from screen_text import screen_text
from ui_support import wait_for

from workbench.ui.screens.rewind import RewindScreen, workbench_commits

pytestmark = [pytest.mark.anyio, pytest.mark.needs_engine]


@pytest.fixture(scope="module")
def made_project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("rewind"))


@pytest.fixture
def project(made_project, tmp_path) -> Path:
    return copy_project(made_project, tmp_path)



async def test_lists_workbench_commits_previews_and_undoes_on_confirmation(project, wb_env) -> None:
    from workbench.store import Store

    commits = workbench_commits(project)
    assert len(commits) >= 3 and commits[-1].step == "git"
    last = commits[0]
    before = git(project, "rev-parse", f"{last.sha}^{{tree}}")
    parent_tree = git(project, "rev-parse", f"{last.sha}^^{{tree}}")
    store = Store(wb_env / "workbench.db")
    app = Host(lambda: RewindScreen(store, project))
    async with app.run_test(size=(140, 40)) as pilot:
        # the table's rows are painted a frame after the label: wait for every one of them
        assert await wait_for(pilot, lambda: "Undo would revert" in screen_text(app)
                              and all(c.sha[:12] in screen_text(app) for c in commits))
        text = screen_text(app)
        assert "▶" in text and last.sha[:12] in text
        assert "diff" in text or "---" in text  # the revert diff
        await pilot.press("u")
        await pilot.pause()
        assert "as a new commit? y: yes" in screen_text(app)
        assert git(project, "rev-parse", "HEAD^{tree}") == before  # nothing yet
        await pilot.press("y")
        assert await wait_for(pilot, lambda: "Done:" in screen_text(app), 30)
        assert await wait_for(pilot, lambda: "↶ undone" in screen_text(app), 10)
    log = git(project, "log", "--format=%s", "-n2").splitlines()
    assert log[0] == f'Undo "{last.subject}"' and log[1] == last.subject
    assert git(project, "rev-parse", "HEAD^{tree}") == parent_tree  # the tree before that change


async def test_a_conflicting_later_commit_is_a_plain_refusal(project, wb_env) -> None:
    from workbench.store import Store

    last = workbench_commits(project)[0]
    changed = [p for p in git(project, "show", "--format=", "--name-only", last.sha).splitlines() if p]
    target = project / changed[0]
    target.write_text("mine\n" + target.read_text())
    git(project, "commit", "-qam", "my own change")
    head = git(project, "rev-parse", "HEAD")
    store = Store(wb_env / "workbench.db")
    app = Host(lambda: RewindScreen(store, project))
    async with app.run_test(size=(140, 40)) as pilot:
        assert await wait_for(pilot, lambda: "Cannot undo" in screen_text(app))
        text = screen_text(app)
        assert changed[0] in text
        await pilot.press("u", "y")
        await pilot.pause()
        assert "Nothing to undo" in screen_text(app)
    assert git(project, "rev-parse", "HEAD") == head
