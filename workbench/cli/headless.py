"""The headless runner: `workbench new`, `resume` and `sessions`, a rich view over the engine."""

from __future__ import annotations

import os
import time
from pathlib import Path

from workbench.errors import EXIT_GATE, EXIT_OK, UsageError
from workbench.lifecycle import events as ev
from workbench.lifecycle.steps import BY_ID, STEP_IDS

DEFAULT_TEMPLATE = "python-cli"


def check_out_dir(out: str) -> Path:
    """--out must not exist, or be an empty directory we can write in."""
    path = Path(out).expanduser()
    if path.is_symlink() and not path.exists():
        raise UsageError(f"--out {out}: is a dangling symlink")
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"--out {out}: exists and is not a directory")
        try:
            if any(path.iterdir()):
                raise UsageError(f"--out {out}: directory is not empty (nothing was changed)")
        except PermissionError:
            raise UsageError(f"--out {out}: permission denied") from None
        parent = path
    else:
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise UsageError(f"--out {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {parent} is not writable")
    return path


def _provider(model: str | None, template: str, store=None):
    """The agents for this run: a configured model, or the offline drafter."""
    from workbench.llm.offline import OfflineAgents

    try:
        from workbench.llm import registry
    except ImportError:
        registry = None
    if registry is not None and hasattr(registry, "build_provider"):
        return registry.build_provider(model=model, template=template, store=store)
    if model not in (None, "offline"):
        raise UsageError(f"--model {model}: only the offline model is available")
    return OfflineAgents(template)


class HeadlessView:
    """Prints one line per finished step, a spinner for the running one."""

    def __init__(self, console):
        self.console = console
        self.started: dict[str, float] = {}
        self.status = None

    def __call__(self, event: ev.Event) -> None:
        step = event.step
        if event.kind == ev.STEP_STARTED:
            self.started[step] = time.monotonic()
            self._status(f"[bold]{BY_ID[step].phase}/{step}[/] {BY_ID[step].title} …")
        elif event.kind == ev.STEP_DONE:
            self._stop()
            self._line("[green]✓[/]", step, event.message)
        elif event.kind == ev.STEP_FAILED:
            self._stop()
            self._line("[red]✗[/]", step, event.message)
        elif event.kind == ev.GATE:
            self._stop()
            self._line("[yellow]⏸[/]", step, event.message)
        elif event.kind == ev.STEP_PROGRESS and self.status is not None:
            self.status.update(f"[bold]{BY_ID[step].phase}/{step}[/] {event.message[:80]}")

    def _status(self, text: str) -> None:
        if self.console.is_terminal:
            if self.status is None:
                self.status = self.console.status(text)
                self.status.start()
            else:
                self.status.update(text)

    def _stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def _line(self, mark: str, step: str, message: str) -> None:
        from rich.markup import escape

        took = time.monotonic() - self.started.get(step, time.monotonic())
        phase = BY_ID[step].phase
        self.console.print(f"{mark} {phase:<9} {step:<15} {escape(message)} [dim]({took:.1f}s)[/]",
                           highlight=False, soft_wrap=True)


def _open_store():
    from workbench.paths import db_path
    from workbench.store import Store

    return Store(db_path())


def _drive(engine, sid: str, yes: bool, console) -> int:
    from rich.markup import escape

    while True:
        outcome = engine.run(sid)
        if outcome.status == "gate" and yes:
            engine.approve(sid, outcome.gate, outcome.sha256)
            continue
        break
    if outcome.status == "done":
        session = engine.store.get_session(sid)
        console.print(f"[green]done[/]: {escape(session['out_dir'])} (session {sid})", highlight=False)
        return EXIT_OK
    if outcome.status == "gate":
        console.print(
            f"[yellow]stopped at the {outcome.gate} gate[/]: {escape(outcome.message)}. "
            f"Review it, then run `workbench resume {sid} --yes` to approve and continue.",
            highlight=False, soft_wrap=True)
        return EXIT_GATE
    # failed: one line on stderr, exit 1
    raise_step_failed(outcome)
    return 1


def raise_step_failed(outcome) -> None:
    from workbench.errors import WorkbenchError

    raise WorkbenchError(outcome.message, 1)


def cmd_new(args) -> int:
    from rich.console import Console

    from workbench.lifecycle.engine import Engine, Options, refuse_secrets
    from workbench.scaffold import cleanup_leftovers, template_ids
    from workbench.spec import load_spec, validate

    if not args.request.strip():
        raise UsageError("REQUEST: must not be empty")
    out = check_out_dir(args.out)
    ids = template_ids()
    if args.template is not None and args.template not in ids:
        raise UsageError(f"--template {args.template}: unknown template (available: {', '.join(sorted(ids))})")
    spec_text = None
    template = args.template or DEFAULT_TEMPLATE
    if args.spec:
        spec = load_spec(args.spec)
        validate(spec, ids)
        if args.template is not None and args.template != spec.template:
            raise UsageError(f"--template {args.template} disagrees with {args.spec}: template {spec.template}")
        spec_text = spec.raw.decode("utf-8")
        refuse_secrets(spec_text, str(args.spec), UsageError)
        template = spec.template
    provider = _provider(args.model, template)
    cleanup_leftovers(out.parent if out.parent.exists() else Path.cwd())
    console = Console(highlight=False)
    store = _open_store()
    if hasattr(provider, "store"):
        provider.store = store
    options = Options(allow_unsandboxed=args.allow_unsandboxed, run_monitor=not args.no_monitor)
    engine = Engine(store, provider, HeadlessView(console), options)
    sid = engine.start(args.request, out, spec_text=spec_text, template=template, model=args.model,
                       spec_source=str(args.spec) if args.spec else "spec.md")
    console.print(f"session {sid} · model {getattr(provider.for_step('spec'), 'label', 'offline')} · "
                  f"template {template}", style="dim", highlight=False)
    return _drive(engine, sid, args.yes, console)


def _find_session(store, prefix: str) -> dict:
    matches = [s for s in store.list_sessions(limit=10_000) if s["id"].startswith(prefix)]
    if not matches:
        raise UsageError(f"no session matches '{prefix}'")
    if len(matches) > 1:
        raise UsageError(f"'{prefix}' matches {len(matches)} sessions; give more of the id")
    return matches[0]


def cmd_resume(args) -> int:
    from rich.console import Console

    from workbench.lifecycle.engine import Engine, Options

    store = _open_store()
    session = _find_session(store, args.session)
    template = session.get("template") or DEFAULT_TEMPLATE
    provider = _provider(session.get("model"), template, store)
    console = Console(highlight=False)
    options = Options(allow_unsandboxed=args.allow_unsandboxed, run_monitor=not args.no_monitor)
    engine = Engine(store, provider, HeadlessView(console), options)
    return _drive(engine, session["id"], args.yes, console)


def cmd_sessions(args) -> int:
    from rich.console import Console
    from rich.table import Table

    store = _open_store()
    table = Table("session", "status", "step", "request", "out")
    for s in store.list_sessions(limit=50):
        table.add_row(s["id"][:12], s.get("status") or "", s.get("current_step") or "",
                      (s.get("request") or "")[:40], s.get("out_dir") or "")
    Console().print(table)
    return EXIT_OK


__all__ = ["STEP_IDS", "cmd_new", "cmd_resume", "cmd_sessions", "check_out_dir"]
