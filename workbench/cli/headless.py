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
    """The agents for this run: config.toml plus --model, or the offline drafter."""
    from workbench.llm import registry

    provider = registry.build_provider(model=model, template=template, store=store)
    provider.skip_review = _NO_REVIEW  # `resume --no-review` (recorded in the audit log)
    return provider


_NO_REVIEW = False


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
        elif event.kind == ev.STEP_PROGRESS and getattr(event, "notice", False):
            # a retry, a timeout, a fallback: a line of its own, on a terminal or not
            self._line("[yellow]![/]", step, event.message)
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


def _drive(service, sid: str, yes: bool, console, approve: str | None = None, as_json: bool = False) -> int:
    """Run until done, a failure or a gate; approve gates with --yes, or one with --approve.
    The decisions are the session service's; this prints what happened."""
    from workbench.lifecycle.session import Policy

    try:
        outcome = service.drive(sid, Policy(yes=yes, approve=approve))
    finally:
        service.close()
    if outcome.status == "done":
        if not as_json:
            session = service.get(sid)
            console.print(f"[green]done[/]: {_esc(session['out_dir'])} (session {sid})", highlight=False)
        return EXIT_OK
    if outcome.status == "gate":
        if not as_json:
            _print_gate(service, sid, outcome, console)
        return EXIT_GATE
    # failed: one line on stderr, exit 1 (and with --json, a last `finished` line saying so)
    if as_json:
        service.on_event(ev.make(ev.FINISHED, sid, outcome.step, outcome.message, status="failed",
                                 exit_code=1))
    raise_step_failed(outcome, sid)
    return 1


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _print_gate(service, sid: str, outcome, console) -> None:
    short = sid[:12]
    what = "spec" if outcome.gate == "spec" else "plan"
    console.print(f"[yellow]stopped at the {outcome.gate} gate[/]: {_esc(outcome.message)}",
                  highlight=False, soft_wrap=True)
    findings = service.findings(sid) if outcome.gate == "spec" else []
    if outcome.gate == "spec":
        for f in findings:
            console.print("  " + _finding_line(f), highlight=False, soft_wrap=True)
    else:
        d = outcome.data
        console.print(f"  {d.get('files')} files, {d.get('bytes', 0):,} bytes "
                      f"({d.get('integration_files', 0)} of them CI, devcontainer and release files "
                      "committed after the scaffold)", highlight=False)
    console.print(
        f"  read it:     workbench show {short} {what}\n"
        + (f"  change it:   workbench resume {short} --spec FILE\n" if what == "spec" else "")
        + (f"  a finding:   workbench findings {short} --apply N | --dismiss N --reason TEXT\n"
           if any(f["status"] == "open" for f in findings) else "")
        + f"  approve it:  workbench resume {short} --approve {outcome.sha256[:12]}\n"
        f"  approve all: workbench resume {short} --yes",
        highlight=False, soft_wrap=True)


def _finding_line(f: dict, markup: bool = True) -> str:
    """`3. warning  commands[0].options[1]: text (suggestion: ...)`, with its status
    (escaped for Rich markup unless `markup` is false)."""
    status = "" if f["status"] == "open" else f" [{f['status']}" + (f": {f['reason']}" if f.get("reason") else "") + "]"
    sug = f" (suggestion: {f['suggestion']})" if f.get("suggestion") else ""
    line = f"{f['n']}. {f['severity']:<8} {f['location']}: {f['text']}{sug}{status}"
    return _esc(line) if markup else line


def _service(store, view=None, options=None, agents: bool = True):
    """The session service over `store`; `agents` False for read-only commands (no model)."""
    from workbench.lifecycle.session import SessionService

    factory = (lambda model, template: _provider(model, template, store)) if agents else None
    return SessionService(store, factory, view or ev.ignore, options)


def cmd_findings(args) -> int:
    """List, apply or dismiss a session's review findings."""
    from rich.console import Console

    from workbench.lifecycle.engine import session_lock

    store = _open_store()
    console = Console(highlight=False)
    deciding = bool(args.apply or args.dismiss)
    service = _service(store, HeadlessView(console), agents=deciding)
    session = service.find(args.session)
    sid, short = session["id"], session["id"][:12]
    if deciding:
        overlap = set(args.apply) & set(args.dismiss)
        if overlap:
            raise UsageError(f"finding {sorted(overlap)[0]} is both applied and dismissed; choose one")
        with session_lock(store, sid):
            for ref in args.dismiss:
                f = service.dismiss_finding(sid, ref, args.reason)
                console.print(f"dismissed {_finding_line(f)}", soft_wrap=True)
            for ref in args.apply:
                f = service.apply_finding(sid, ref)
                console.print(f"applied {_finding_line(f)} -> spec v{f['spec_version']} "
                              f"({f['sha256'][:12]})", soft_wrap=True)
        if args.apply:
            console.print(f"the review runs again on the new spec: workbench resume {short}",
                          style="dim", soft_wrap=True)
        return EXIT_OK
    findings = service.findings(sid)
    if not findings:
        console.print(f"session {short} has no review findings", style="dim")
    for f in findings:
        console.print(_finding_line(f), soft_wrap=True)
    return EXIT_OK


def raise_step_failed(outcome, sid: str) -> None:
    from workbench.errors import WorkbenchError

    raise WorkbenchError(f"{outcome.message} (fix it, then `workbench resume {sid[:12]}`)", 1)


def _notes(provider, console) -> None:
    """Say it when Workbench falls back: no model key, no git identity."""
    from workbench.identity import human

    for w in getattr(provider, "warnings", []) or []:
        console.print(f"[yellow]note[/]: {_esc(str(w))}", highlight=False, soft_wrap=True)
    who = human()
    if who.source != "git":
        console.print(f"[yellow]note[/]: no git identity (git config user.name/user.email); "
                      f"commits are authored as {_esc(str(who))}", highlight=False, soft_wrap=True)


class JsonView:
    """`--json`: every engine event as one JSON object per line on stdout (docs/events.md)."""

    def __init__(self, stream=None):
        import sys

        self.stream = stream or sys.stdout

    def __call__(self, event: ev.Event) -> None:
        import json

        self.stream.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        self.stream.flush()


def _view(args, console):
    return JsonView() if getattr(args, "json", False) else HeadlessView(console)


def _console(args):
    """Human output: on stdout, or on stderr when stdout carries --json lines."""
    from rich.console import Console

    return Console(highlight=False, stderr=bool(getattr(args, "json", False)))


def cmd_new(args) -> int:
    from workbench.lifecycle.engine import Options, refuse_secrets
    from workbench.scaffold import cleanup_leftovers, template_ids
    from workbench.spec import load_spec, validate

    if not args.request.strip():
        raise UsageError("REQUEST: must not be empty")
    out = check_out_dir(args.out)
    from workbench.safety.sandbox import refuse_private_out

    refuse_private_out(out)  # generated code must not see the database
    ids = template_ids()
    if args.template is not None and args.template not in ids:
        raise UsageError(f"--template {args.template}: unknown template (available: {', '.join(sorted(ids))})")
    spec_text = None
    template = args.template or DEFAULT_TEMPLATE
    if args.spec is not None:  # `--spec ""` is an error, not no spec
        spec = load_spec(args.spec)
        validate(spec, ids)
        if args.template is not None and args.template != spec.template:
            raise UsageError(f"--template {args.template} disagrees with {args.spec}: template {spec.template}")
        spec_text = spec.raw.decode("utf-8")
        refuse_secrets(spec_text, str(args.spec), UsageError)
        template = spec.template
    cleanup_leftovers(out.parent if out.parent.exists() else Path.cwd())
    console = _console(args)
    store = _open_store()
    options = Options(allow_unsandboxed=args.allow_unsandboxed, run_monitor=not args.no_monitor)
    service = _service(store, _view(args, console), options)
    sid = service.start(args.request, out, spec_text=spec_text, template=template, model=args.model,
                        spec_source=str(args.spec) if args.spec else "spec.md")
    provider = service.engine(sid).provider
    console.print(f"session {sid} · model {getattr(provider.for_step('spec'), 'label', 'offline')} · "
                  f"template {template}", style="dim", highlight=False, markup=False)
    _notes(provider, console)
    return _drive(service, sid, args.yes, console, as_json=getattr(args, "json", False))


def cmd_resume(args) -> int:
    global _NO_REVIEW
    _NO_REVIEW = bool(getattr(args, "no_review", False))  # go on without the Reviewer agent
    from workbench.lifecycle.engine import Options

    store = _open_store()
    console = _console(args)
    options = Options(allow_unsandboxed=args.allow_unsandboxed, run_monitor=not args.no_monitor)
    service = _service(store, _view(args, console), options)
    session = service.find(args.session)
    if args.spec is not None:  # `--spec ""` is an error, not no spec
        from workbench.spec import load_spec

        spec = load_spec(args.spec)  # parse errors: exit 2; validation happens in review
        service.revise_spec(session["id"], spec.raw.decode("utf-8"))
        console.print(f"spec replaced from {_esc(args.spec)} ({spec.sha256[:12]})", highlight=False)
    if getattr(args, "restore", None) is not None:  # a spec version made the newest again
        from workbench.lifecycle.versions import restore

        v = restore(service, session["id"], args.restore)
        console.print(f"spec v{args.restore} restored as v{v['version']} ({v['sha256'][:12]})", highlight=False)
    return _drive(service, session["id"], args.yes, console, approve=args.approve,
                  as_json=getattr(args, "json", False))


def cmd_show(args) -> int:
    """Print what a session holds: its spec, the review findings, the plan, or its steps."""
    import sys

    from workbench.cli.terminal import printable

    # on a terminal, escape sequences and bidi overrides in stored text are shown, not obeyed
    shown = printable if sys.stdout.isatty() else str
    store = _open_store()
    service = _service(store, agents=False)
    session = service.find(args.session)
    sid = session["id"]
    what = args.what
    if what == "spec":
        spec = store.get_spec_version(sid)
        if spec is None:
            raise UsageError(f"session {sid[:12]} has no spec yet")
        sys.stdout.write(shown(spec["text"]))
    elif what == "analysis":
        sys.stdout.write(shown(store.get_output(sid, "analysis", "analysis") or ""))
    elif what == "findings":
        for f in service.findings(sid):
            print(shown(_finding_line(f, markup=False)))
    elif what == "plan":
        plan = service.plan(sid)
        for path, f in sorted(plan.files.items()):
            mark = "model" if f.model_owned else ""
            print(shown(f"{f.step:<14} {len(f.content.encode()):>8,}  {mark:<5}  {path}"))
        print(f"{len(plan.files)} files, {plan.total_bytes:,} bytes, sha256 {plan.sha256}")
    elif what == "versions":
        from workbench.cli.show_cmd import show_versions

        show_versions(store, sid, shown)
    elif what in ("files", "tests", "rejected"):
        from workbench.cli.show_cmd import show_part

        show_part(store, sid, what, shown)
    else:
        steps = store.get_steps(sid)
        print(shown(f"session {sid}  status {session.get('status')}  out {session.get('out_dir')}"))
        for step in STEP_IDS:
            st = steps.get(step, {})
            print(shown(f"  {BY_ID[step].phase:<9} {step:<15} {st.get('status', 'pending'):<8} "
                        f"{st.get('message') or ''}"))
    return EXIT_OK


def _shorten(text: str, width: int) -> str:
    """One line of at most `width` characters, cut at a word boundary with an ellipsis."""
    import textwrap

    line = " ".join(text.split())
    if len(line) <= width:
        return line
    short = textwrap.shorten(line, width, placeholder=" …")
    return short if short != " …" and short != "…" else line[: width - 1] + "…"


def cmd_sessions(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from workbench.cli.terminal import cell

    store = _open_store()
    table = Table("session", "status", "step", "request", "out")
    for s in store.list_sessions(limit=50):  # every cell is data: escaped, controls removed
        table.add_row(cell(s["id"][:12]), cell(s.get("status") or ""),
                      cell(s.get("current_step") or ""), cell(_shorten(s.get("request") or "", 48)),
                      cell(s.get("out_dir") or ""))
    Console().print(table, highlight=False)
    return EXIT_OK


__all__ = ["STEP_IDS", "check_out_dir", "cmd_new", "cmd_resume", "cmd_sessions", "cmd_show"]
