"""The doctor line: at start the TUI runs `workbench doctor`'s checks in a background
thread and, when something the main job needs is missing, shows one line naming it and
the command that fixes it (issue 12, item 3). Click it (or the palette's "Dismiss the
doctor line") to hide it; `workbench doctor` lists everything."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.app import App
from textual.widgets import Static

BANNER_ID = "doctor-line"


def _fix(check: Any) -> str:
    fixes = dict(getattr(check, "fix", {}) or {})
    platform = "macos" if sys.platform == "darwin" else "debian"
    return str(fixes.get(platform) or next(iter(fixes.values()), ""))


def doctor_line(problems: Sequence[Any]) -> str | None:
    """One line for the failing checks (None when the main job can run): the first one
    named with its fix, and how many more `workbench doctor` shows."""
    if not problems:
        return None
    first = problems[0]
    detail = " ".join(str(first.detail).split())
    line = f"✗ {first.name}: {detail}"
    fix = _fix(first)
    if fix:
        line += f" · fix: {fix}"
    if len(problems) > 1:
        line += f" · {len(problems) - 1} more: workbench doctor"
    return line


class DoctorBanner(Static):
    """The one line, docked above the footer; a click dismisses it."""

    DEFAULT_CSS = """
    DoctorBanner {
        dock: bottom;
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $error 25%;
        color: $text;
    }
    """

    def __init__(self, line: str) -> None:
        super().__init__(Text(line + "  (click to dismiss)"), id=BANNER_ID, markup=False)
        self.line = line

    def on_click(self) -> None:
        self.remove()


def _default_problems() -> list[Any]:
    from workbench.cli.doctor_cmd import problems

    return problems()


def check_in_background(app: App, problems: Callable[[], Sequence[Any]] | None = None) -> None:
    """Run the checks in a thread worker; show the line on the main screen if needed."""
    find = problems or _default_problems

    def work() -> None:
        try:
            line = doctor_line(find())
        except Exception:  # noqa: BLE001 - a check that cannot run is not worth a crash
            return
        if line is not None:
            app.call_from_thread(show_line, app, line)

    app.run_worker(work, thread=True, group="doctor", exit_on_error=False, name="doctor")


def show_line(app: App, line: str) -> DoctorBanner:
    main = app.screen_stack[0] if app.screen_stack else app.screen
    for old in main.query(f"#{BANNER_ID}"):
        old.remove()
    banner = DoctorBanner(line)
    main.mount(banner)
    return banner


def dismiss(app: App) -> None:
    for screen in app.screen_stack:
        for banner in screen.query(f"#{BANNER_ID}"):
            banner.remove()
