"""Open project… in the TUI (issue 14 §1): a project Workbench made, its spec in the
editor; an edit is reviewed, the spec diff shown and approved, the 3-way preview shown
and approved, and one "Evolve" commit made. Nothing reaches the project before that."""

from __future__ import annotations

from pathlib import Path

import pytest
from screen_host import Host, copy_project, git, make_project
from screen_text import screen_text
from textual.widgets import DataTable, Input
from ui_support import wait_for

from workbench.ui.screens.project import EvolveScreen, OpenProjectScreen, project_problem

pytestmark = [pytest.mark.anyio, pytest.mark.needs_engine]


@pytest.fixture(scope="module")
def made_project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("evolve"))


@pytest.fixture
def project(made_project, tmp_path) -> Path:
    return copy_project(made_project, tmp_path)


def with_limit(spec: str) -> str:
    head, sep, rest = spec.partition("  options:\n")
    assert sep, spec
    return head + sep + "  - name: limit\n    type: int\n    default: 10\n    help: At most this many\n" + rest


def test_project_problem_names_what_is_wrong(tmp_path, made_project) -> None:
    assert project_problem(made_project) is None
    assert "no such folder" in project_problem(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    assert "not a git repository" in project_problem(tmp_path / "plain")
    assert "give the project's folder" in project_problem("  ")


async def test_open_project_refuses_a_folder_workbench_did_not_make(tmp_path, made_project) -> None:
    app = Host(lambda: OpenProjectScreen())
    async with app.run_test(size=(100, 24)) as pilot:
        # (pushed is not yet composed: wait for its field)
        assert await wait_for(pilot, lambda: isinstance(app.screen, OpenProjectScreen)
                              and bool(app.screen.query(Input)))
        app.screen.query_one(Input).value = str(tmp_path)
        await pilot.press("enter")
        await pilot.pause()
        error = str(app.screen.query_one("#project-error").render())
        assert "not a git repository" in error and not app.results
        app.screen.query_one(Input).value = str(made_project)
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [made_project.resolve()]


@pytest.mark.parametrize("width", [120, 170], ids=["unified", "side-by-side"])
async def test_edit_review_approve_preview_approve_one_evolve_commit(project, wb_env, width) -> None:
    from workbench.lifecycle.engine import Options
    from workbench.store import Store

    store = Store(wb_env / "workbench.db")
    head = git(project, "rev-parse", "HEAD").strip()
    spec_before = (project / "docs" / "spec.md").read_text()
    app = Host(lambda: EvolveScreen(store, project, options=Options(run_monitor=False, allow_unsandboxed=True)))
    async with app.run_test(size=(width, 40)) as pilot:
        # (pushed is not yet composed: wait for its editor)
        assert await wait_for(pilot, lambda: isinstance(app.screen, EvolveScreen)
                              and bool(app.screen.query("#evolve-editor")))
        screen = app.screen
        assert screen.editor.text == spec_before  # its spec, in the editor
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: "unchanged" in screen_text(app)), screen_text(app)
        screen.editor.text = with_limit(spec_before)
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: screen.stage == "spec", 60), screen_text(app)
        assert "+ option --limit" in screen_text(app)
        assert git(project, "rev-parse", "HEAD").strip() == head
        await pilot.press("y")
        assert await wait_for(pilot, lambda: screen.stage == "plan", 120), screen_text(app)
        text = screen_text(app)
        assert "3-way merge" in text and "docs/spec.md" in text
        rows = screen.query_one("#evolve-files", DataTable).row_count
        assert rows >= 2
        assert (project / "docs" / "spec.md").read_text() == spec_before  # nothing written yet
        if width >= 160:
            assert "the tree now:" in text and "merged result:" in text
        else:
            assert "@@" in text
        await pilot.press("y")
        assert await wait_for(pilot, lambda: screen.stage == "done", 120), screen_text(app)
        assert "Done:" in screen_text(app)
    log = git(project, "log", "--format=%s", f"{head}..HEAD").splitlines()
    assert len(log) == 1 and log[0].startswith("Evolve "), log
    assert "name: limit" in (project / "docs" / "spec.md").read_text()
