"""`workbench DIR` (issue 14 §1): an existing folder that Workbench made opens in the TUI
for evolve; --help, --version and the subcommands are untouched (also when a folder in the
current directory has a command's name); a folder Workbench did not make is exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from screen_host import make_project
from ui_support import wait_for

from workbench.cli import main as cli

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def made_project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("dir"))


@pytest.fixture
def tui_calls(monkeypatch) -> list:
    import workbench.ui.app

    calls: list = []
    monkeypatch.setattr(workbench.ui.app, "run", lambda **kw: calls.append(kw) or 0)
    return calls


@pytest.mark.needs_engine
def test_a_project_dir_opens_the_tui_on_it(made_project, tui_calls) -> None:
    assert cli.main([str(made_project)]) == 0
    assert tui_calls == [{"project": made_project.resolve()}]


def test_a_folder_workbench_did_not_make_is_exit_2_in_one_line(tmp_path, tui_calls, capsys) -> None:
    assert cli.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(tmp_path) in err and "not a git repository" in err
    assert tui_calls == []


def test_help_version_and_commands_are_intact(tmp_path, monkeypatch, tui_calls, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0 and "workbench DIR" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0 and capsys.readouterr().out.startswith("workbench ")
    (tmp_path / "templates").mkdir()  # a folder named like a command: the command wins
    monkeypatch.chdir(tmp_path)
    assert cli.main(["templates"]) == 0 and "python-cli" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-thing"])  # neither a command nor a folder: argparse's usage error
    assert exc.value.code == 2
    assert tui_calls == []


@pytest.mark.needs_engine
async def test_the_app_opens_the_project_with_its_spec_in_the_editor(real_backend, made_project,
                                                                     out_dir) -> None:
    from workbench.ui.app import WorkbenchApp
    from workbench.ui.screens.project import EvolveScreen

    app = WorkbenchApp(real_backend, out_dir=out_dir)
    app.open_project_dir = made_project
    async with app.run_test(size=(120, 40)) as pilot:
        # pushed is not yet composed: wait for its editor to be there
        assert await wait_for(pilot, lambda: isinstance(app.screen, EvolveScreen)
                              and bool(app.screen.query("#evolve-editor")))
        assert app.screen.editor.text == (made_project / "docs" / "spec.md").read_text()
