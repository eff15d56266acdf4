"""Helpers for the tests of the screens in workbench/ui/screens: a bare app that pushes
one screen and keeps what it dismisses with, and a project made offline to the end."""

from __future__ import annotations

from pathlib import Path

from textual.app import App


class Host(App):
    def __init__(self, make) -> None:
        super().__init__()
        self.make, self.results = make, []

    def on_mount(self) -> None:
        self.push_screen(self.make(), self.results.append)


def make_project(tmp: Path, request: str = "count words in text files") -> Path:
    """A project run to the end offline (monitor off): scaffold + integration commits."""
    from workbench.lifecycle.engine import Engine, Options
    from workbench.llm.offline import OfflineAgents
    from workbench.store import Store

    store = Store(tmp / "made.db")
    engine = Engine(store, OfflineAgents(), options=Options(run_monitor=False, allow_unsandboxed=True))
    project = tmp / "words"
    sid = engine.start(request, project)
    outcome = engine.run(sid)
    while outcome.status == "gate":
        engine.approve(sid, outcome.gate, outcome.sha256, "human:test")
        outcome = engine.run(sid)
    assert outcome.status == "done", outcome
    engine.close()
    store.close()
    return project


def git(root: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def copy_project(made: Path, tmp: Path) -> Path:
    """A copy of a made project (its repository too) to change in one test."""
    import shutil

    dest = tmp / made.name
    shutil.copytree(made, dest, symlinks=True)
    return dest
