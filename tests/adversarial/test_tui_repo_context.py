"""The TUI launched from inside someone's checkout (issue 12): the project must not land
in that repository by default, and nothing of the repository may reach the model unless
the developer chose to build inside it and ticked "read as context".

Before the fix the project went to the current directory (inside the checkout) without
asking, and the analysis sent the checkout's README and pyproject to the model."""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.loopback import LoopbackLLM, lifecycle_responder

pytestmark = [pytest.mark.anyio]

README_SECRET = "INTERNAL-ROADMAP-do-not-share-7731"
PYPROJECT_SECRET = "internal-pkg-9ac2e"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    repo = tmp_path / "their-checkout"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README.md").write_text(f"# Their project\n\n{README_SECRET}\n")
    (repo / "pyproject.toml").write_text(f'[project]\nname = "{PYPROJECT_SECRET}"\n')
    (repo / "sub").mkdir()
    home = tmp_path / "wbhome"
    home.mkdir()
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("WORKBENCH_NO_BLINK", "1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SENTINEL-ctx-0123456789abcdef")
    monkeypatch.chdir(repo / "sub")
    return repo


def _backend(home: Path, srv: LoopbackLLM):
    from workbench.ui.backend import Backend

    (home / "config.toml").write_text(textwrap.dedent(f"""
        [workbench]
        default_model = "gpt"
        [models.gpt]
        model = "openai/gpt-4o"
        api_base = "{srv.api_base('openai')}"
    """))
    return Backend(config_path=home / "config.toml")


async def _until(pilot, condition, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        if condition():
            return True
    return False


async def _draft(checkout: Path, folder: str | None, tick: bool) -> tuple[list[str], Path]:
    """Type a request, answer the folder dialog (`folder`: None keeps what is offered),
    run to the spec gate; (every request body the model got, the project folder)."""
    from textual.widgets import Checkbox, Input

    from workbench.ui.app import WorkbenchApp
    from workbench.ui.screens.folder import FolderScreen

    with LoopbackLLM() as srv:
        srv.responder = lifecycle_responder()
        backend = _backend(Path(checkout.parent / "wbhome"), srv)
        app = WorkbenchApp(backend)  # a plain `workbench`
        async with app.run_test(size=(120, 40)) as pilot:
            assert await _until(pilot, lambda: backend.ready), backend.error
            app.chat.input.value = "convert csv files to json"
            app.chat.input.focus()
            await pilot.press("enter")
            assert await _until(pilot, lambda: isinstance(app.screen, FolderScreen), 10)
            field = app.screen.query_one(Input)
            if folder is not None:
                field.value = folder
                await pilot.pause()
            app.screen.query_one(Checkbox).value = tick
            field.focus()
            await pilot.press("enter")
            assert await _until(pilot, lambda: app.waiting_gate is not None and not app.busy)
            bodies = [r.raw.decode("utf-8", "replace") for r in srv.requests]  # as on the wire
            return bodies, app.project_dir


async def test_the_default_folder_is_outside_the_checkout_and_nothing_of_it_is_sent(checkout):
    bodies, project = await _draft(checkout, None, tick=True)  # (a tick with no repo: no-op)
    assert bodies, "the model was never asked"
    assert checkout not in project.parents
    for body in bodies:
        assert README_SECRET not in body and PYPROJECT_SECRET not in body


async def test_inside_the_checkout_unticked_still_sends_nothing_of_it(checkout):
    bodies, project = await _draft(checkout, str(checkout / "tools" / "csv"), tick=False)
    assert checkout in project.parents
    for body in bodies:
        assert README_SECRET not in body and PYPROJECT_SECRET not in body


async def test_inside_the_checkout_and_ticked_it_is_sent_as_chosen(checkout):
    """The control: the same path with the box ticked does read it (so the two tests above
    would see a leak if there were one)."""
    bodies, _project = await _draft(checkout, str(checkout / "tools" / "csv"), tick=True)
    assert any(README_SECRET in body for body in bodies)
