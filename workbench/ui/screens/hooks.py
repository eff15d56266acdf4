"""What the app calls to reach the new screens: the start-up (theme, doctor line, the
start screen), the palette's entries, and the one way a screen opens a session.

The app keeps its own state; these functions only push screens and hand the result to
the app's hooks (`open_session`, or `_resume` until the app names it so). Nothing here
imports the core's heavy modules at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App

DASHBOARD_KEY = "f9"
DOCTOR_DELAY = 0.2  # s after mount: the checks' subprocesses stay off the first frame


# -- what the screens need of the app ---------------------------------------------------

def store_of(app: App) -> Any:
    """The app's store (None until the backend is open)."""
    backend = getattr(app, "backend", None)
    return getattr(backend, "store", None)


def session_of(app: App) -> str | None:
    backend = getattr(app, "backend", None)
    return getattr(backend, "session_id", None)


def open_session(app: App, sid: str) -> None:
    """Reopen a session at its true state through the app's own hook."""
    hook = getattr(app, "open_session", None) or getattr(app, "_resume", None)
    if hook is None:
        app.notify(f"Cannot open session {sid[:12]} here", severity="error")
        return

    async def go() -> None:
        result = hook(sid)
        if asyncio.iscoroutine(result):
            await result

    app.call_later(go)


def focus_request(app: App) -> None:
    """A new tool: the chat's input, where a request is typed."""
    try:
        app.action_show_pane("chat")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a shell without panes
        pass


# -- start-up ----------------------------------------------------------------------------

def on_start(app: App) -> None:
    """On mount: the remembered theme and the dashboard's key; just after the first
    frame, the doctor line's checks (in a thread)."""
    from workbench.ui.screens import doctor_line, themes

    themes.apply_saved(app)
    themes.remember_changes(app)
    # The dashboard's key: an action of this app instance (Textual looks actions up by
    # name on the app), so the shell needs no method of its own for it.
    app.action_dashboard = lambda: show_dashboard(app)  # type: ignore[attr-defined]
    try:
        app.bind(DASHBOARD_KEY, "dashboard", description="Dashboard", show=False)
    except Exception:  # noqa: BLE001 - a key that cannot be bound: the palette still has it
        pass
    app.set_timer(DOCTOR_DELAY, lambda: doctor_line.check_in_background(app))


def recent_sessions(app: App, limit: int = 20) -> list[dict[str, Any]]:
    store = store_of(app)
    fn = getattr(store, "list_sessions", None)
    return [dict(s) for s in fn(limit=limit)] if fn is not None else []


def after_backend(app: App, resume: str | None = None) -> bool:
    """`workbench DIR` opens that project for evolve; a plain `workbench` with earlier
    sessions shows the start screen first."""
    project = getattr(app, "open_project_dir", None)
    if project is not None:  # `workbench DIR`
        open_project(app, project)
        return True
    if resume or session_of(app) is not None:
        return False
    try:
        sessions = recent_sessions(app)
    except Exception:  # noqa: BLE001 - the welcome flow, as if there were none
        return False
    if not sessions:
        return False
    show_start(app, sessions)
    return True


def show_start(app: App, sessions: list[dict[str, Any]] | None = None) -> None:
    from workbench.ui.screens.start import StartChoice, StartScreen

    def chosen(choice: StartChoice | None) -> None:
        if choice is None or choice.kind == "new":
            focus_request(app)
        elif choice.kind == "open":
            open_session(app, choice.value)
        elif choice.kind == "project":
            open_project(app, choice.value or None)

    app.push_screen(StartScreen(recent_sessions(app) if sessions is None else sessions), chosen)


# -- the palette's entries ----------------------------------------------------------------

def _in_thread(app: App, fn: Callable[[], Any], then: Callable[[Any], None], what: str) -> None:
    """Run `fn` in a thread worker, then `then(result)` on the UI thread (errors: one line)."""

    def work() -> None:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - shown, the app stays usable
            app.call_from_thread(app.notify, f"{what}: {exc}", severity="error", markup=False)
            return
        app.call_from_thread(then, result)

    app.run_worker(work, thread=True, group="screens", exit_on_error=False, name=what)


def show_dashboard(app: App) -> None:
    from workbench.ui.screens.dashboard import DashboardScreen, load_dashboard

    store = store_of(app)
    if store is None:
        app.notify("The database is not open yet", severity="warning")
        return
    _in_thread(app, lambda: load_dashboard(store),
               lambda data: app.push_screen(DashboardScreen(data, reload=lambda: load_dashboard(store))),
               "Dashboard")


def show_versions(app: App) -> None:
    from workbench.ui.screens.versions import VersionsScreen

    store, sid = store_of(app), session_of(app)
    if store is None or sid is None:
        app.notify("No session is open: spec versions belong to a session", severity="warning")
        return

    def restored(version: dict | None) -> None:
        if version:
            open_session(app, sid)  # the restored text, shown as the session now stands

    app.push_screen(VersionsScreen(store, sid, restore=lambda n: _restore(app, sid, n)), restored)


def _restore(app: App, sid: str, n: int) -> dict:
    """Make version `n` the newest again, through the session service (or the engine):
    a new version with its text, reviewed again."""
    from workbench.identity import human
    from workbench.lifecycle.versions import restore

    backend = getattr(app, "backend", None)
    service = getattr(backend, "service", None)
    if service is None or not hasattr(service, "revise_spec"):
        engine = getattr(backend, "engine", None)
        if engine is None:
            raise RuntimeError("the lifecycle engine is not open")

        class _Service:  # what versions.restore asks of the session service
            store = store_of(app)

            @staticmethod
            def revise_spec(sid_: str, text: str, actor: str | None = None) -> dict:
                return engine.save_spec_edit(sid_, text, actor=actor)

        service = _Service
    return restore(service, sid, n, actor=f"human:{human()}")


def project_root(app: App) -> Path | None:
    """The open session's project folder, when Workbench made it."""
    from workbench.ui.screens.start import is_project

    folder = getattr(app, "project_dir", None)
    store, sid = store_of(app), session_of(app)
    if folder is None and store is not None and sid is not None:
        session = store.get_session(sid) or {}
        folder = session.get("out_dir")
    return Path(folder) if folder and is_project(folder) else None


def show_rewind(app: App, root: Path | None = None) -> None:
    from workbench.ui.screens.rewind import RewindScreen

    store = store_of(app)
    root = root or project_root(app)
    if store is None:
        app.notify("The database is not open yet", severity="warning")
        return
    if root is None:
        open_project(app, None, then=lambda path: show_rewind(app, path))
        return
    app.push_screen(RewindScreen(store, root))


def open_project(app: App, path: str | Path | None, then: Callable[[Path], None] | None = None) -> None:
    """Open a project Workbench made, for evolve (asks for its folder when none is given)."""
    from workbench.ui.screens.project import EvolveScreen, OpenProjectScreen

    store = store_of(app)

    def go(folder: Path | None) -> None:
        if folder is None:
            return
        if then is not None:
            then(folder)
            return
        backend = getattr(app, "backend", None)
        app.push_screen(EvolveScreen(store_of(app), Path(folder), provider=_provider_for(backend),
                                     options=getattr(backend, "options", None)))

    if path:
        go(Path(path))
    else:
        app.push_screen(OpenProjectScreen(store), go)


def _provider_for(backend: Any) -> Callable[[str | None, str | None], Any] | None:
    """The app's model provider, for the evolve session's agents."""
    provider = getattr(backend, "provider", None)
    if provider is None:
        return None
    return lambda _model, _template: provider


def palette_entries(app: App) -> list[tuple[str, Callable[[], Any], str]]:
    """(name, callback, help) for the command palette."""
    from functools import partial

    from workbench.ui.screens import themes

    out: list[tuple[str, Callable[[], Any], str]] = [
        ("Dashboard", partial(show_dashboard, app),
         f"Success rate, phase times, errors by cause, tokens and cost per model ({DASHBOARD_KEY})"),
        ("Start screen", partial(show_start, app), "Recent sessions and projects: resume one, or a new tool"),
        ("Spec versions…", partial(show_versions, app),
         "The open session's spec versions: diff any two, restore one"),
        ("Rewind…", partial(show_rewind, app), "Workbench's commits of the open project: undo the last"),
        ("Open project…", partial(open_project, app, None),
         "A project Workbench made: edit its spec and evolve it (3-way merge)"),
        ("Dismiss the doctor line", partial(_dismiss_doctor, app), "Hide the line about what is missing"),
    ]
    for name in themes.theme_names(app):
        out.append((f"Theme: {name}", partial(themes.choose, app, name), "Use this theme (remembered)"))
    return out


def _dismiss_doctor(app: App) -> None:
    from workbench.ui.screens import doctor_line

    doctor_line.dismiss(app)
