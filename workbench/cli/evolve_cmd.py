"""`workbench evolve`, `workbench undo` and `workbench diff`: the living spec, headless.

Views over `lifecycle.evolve.EvolveService`, `lifecycle.undo` and `lifecycle.versions`;
they print what happened and decide nothing. Exit codes as `new`: 0 done, 1 failed (a
conflict is a failure: nothing committed), 2 bad usage or input, 3 stopped at a gate.
"""

from __future__ import annotations

import argparse
import sys

from workbench.errors import EXIT_GATE, EXIT_OK, WorkbenchError


def register(sub) -> None:
    ev = sub.add_parser(
        "evolve", help="bring a project Workbench made to a changed spec (3-way merge)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Bring a project Workbench made to a changed spec, keeping your own edits by a "
                    "3-way merge (base: what Workbench generated last time; ours: HEAD; theirs: the "
                    "new generation). Without --spec or --request the spec is DIR/docs/spec.md.\n\n"
                    "exit codes:\n  0  done (one commit \"Evolve NAME to spec vN\")\n"
                    "  1  a step failed, or conflicts (named; nothing committed)\n"
                    "  2  bad usage or bad input (a dirty working tree, offline --request)\n"
                    "  3  stopped at an approval gate")
    ev.add_argument("dir", metavar="DIR", help="the project's folder")
    how = ev.add_mutually_exclusive_group()
    how.add_argument("--spec", metavar="FILE", help="the new spec")
    how.add_argument("--request", metavar="TEXT", help="have the Tool Builder agent revise the spec")
    ev.add_argument("--model", metavar="NAME", help="model alias or LiteLLM id for this run")
    gate = ev.add_mutually_exclusive_group()
    gate.add_argument("--yes", action="store_true", help="approve at every gate")
    gate.add_argument("--approve", metavar="SHA",
                      help="approve only the gate now waiting, and only if its sha256 starts with SHA")
    ev.add_argument("--write-conflicts", action="store_true",
                    help="on conflicts, write git's conflict markers into the working tree (uncommitted)")
    ev.add_argument("--allow-unsandboxed", action="store_true",
                    help="run generated code without bubblewrap when it is missing")
    ev.add_argument("--no-monitor", action="store_true", help="skip the checks of the merged project")
    ev.add_argument("--json", action="store_true",
                    help="the engine's events as JSON lines on stdout (docs/events.md)")
    ev.set_defaults(func=cmd_evolve)

    un = sub.add_parser("undo", help="revert Workbench's last change to a project as a new commit",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Revert Workbench's last change (an evolve or an integration step) "
                                    "as a new revert commit; history is never rewritten. Without --yes "
                                    "it shows what would be reverted and stops.\n\nexit codes:\n"
                                    "  0  reverted\n  1  your later commits conflict (files named)\n"
                                    "  2  bad usage (not a Workbench project, a dirty tree, nothing to undo)\n"
                                    "  3  previewed: run again with --yes")
    un.add_argument("dir", metavar="DIR", help="the project's folder")
    un.add_argument("--yes", action="store_true", help="revert it (otherwise only preview)")
    un.set_defaults(func=cmd_undo)

    df = sub.add_parser("diff", help="compare two spec versions of a session (commands, options, body)")
    df.add_argument("session", metavar="SESSION", help="session id (or a unique prefix)")
    df.add_argument("a", metavar="A", type=int, help="a spec version number")
    df.add_argument("b", metavar="B", type=int, help="another spec version number")
    df.set_defaults(func=cmd_diff)


def _console(args):
    from rich.console import Console

    return Console(highlight=False, stderr=bool(getattr(args, "json", False)))


def cmd_evolve(args) -> int:
    from workbench.cli import headless
    from workbench.lifecycle.engine import Options
    from workbench.lifecycle.evolve import EvolveService
    from workbench.lifecycle.session import Policy

    console = _console(args)
    store = headless._open_store()
    options = Options(allow_unsandboxed=args.allow_unsandboxed, run_monitor=not args.no_monitor)
    view = headless._view(args, console)
    service = EvolveService(store, lambda model, template: headless._provider(model, template, store),
                            view, options)
    try:
        sid = service.open(args.dir, spec_file=args.spec, request=args.request, model=args.model,
                           resume=True)
        outcome = service.drive(sid, Policy(yes=args.yes, approve=args.approve),
                                write_conflicts=args.write_conflicts)
        root = service.record(sid)["root"]
    finally:
        service.close()
    as_json = bool(getattr(args, "json", False))
    short = sid[:12]
    if outcome.status == "done":
        if not as_json:
            console.print(f"[green]done[/]: {headless._esc(outcome.message)} (session {short})")
        else:
            view(_finished(sid, outcome, 0))
        return EXIT_OK
    if outcome.status == "gate":
        if not as_json:
            _print_gate(console, service, sid, root, outcome)
        return EXIT_GATE
    if as_json:
        view(_finished(sid, outcome, 1))
    raise WorkbenchError(outcome.message, 1)


def _finished(sid, outcome, code):
    from workbench.lifecycle import events as ev

    return ev.make(ev.FINISHED, sid, outcome.step, outcome.message, status=outcome.status, exit_code=code)


def _print_gate(console, service, sid, root, outcome) -> None:
    from rich.markup import escape

    from workbench.integrate import merge as merge_mod

    console.print(f"[yellow]stopped at the {outcome.gate} gate[/]: {escape(outcome.message)}", soft_wrap=True)
    if outcome.gate == "spec":
        from workbench.lifecycle.versions import spec_diff_text

        versions = service.store.list_spec_versions(sid)
        if len(versions) >= 2:
            console.print(escape(spec_diff_text(versions[0]["text"], versions[-1]["text"],
                                                "as last generated", f"v{versions[-1]['version']}")),
                          soft_wrap=True)
        for f in service.sessions.findings(sid):
            console.print("  " + escape(f"{f['n']}. {f['severity']} {f['location']}: {f['text']}"), soft_wrap=True)
    else:
        merge = service.merge(sid)
        for path, status in merge.statuses().items():
            console.print(f"  {status:<9} {escape(path)}")
        sys.stdout.write(merge_mod.preview(merge))
        sys.stdout.flush()
    console.print(f"  approve it:  workbench evolve {escape(root)} --approve {outcome.sha256[:12]}\n"
                  f"  approve all: workbench evolve {escape(root)} --yes", soft_wrap=True)


def cmd_undo(args) -> int:
    from rich.markup import escape

    from workbench.cli import headless
    from workbench.lifecycle.undo import Undo

    console = _console(args)
    store = headless._open_store()
    undo = Undo(store, headless.HeadlessView(console))
    plan = undo.plan(args.dir)
    if not args.yes:
        console.print(f"[yellow]would revert[/] {plan.commit[:12]} {escape(plan.subject)} "
                      f"({len(plan.changes)} file(s)):", soft_wrap=True)
        sys.stdout.write(plan.diff)
        sys.stdout.flush()
        console.print(f"  revert it:   workbench undo {escape(str(plan.root))} --yes", soft_wrap=True)
        return EXIT_GATE
    sha = undo.apply(plan)
    console.print(f"[green]done[/]: {sha[:12]} reverts {plan.commit[:12]} {escape(plan.subject)}", soft_wrap=True)
    return EXIT_OK


def cmd_diff(args) -> int:
    from workbench.cli import headless
    from workbench.lifecycle.versions import diff_versions

    store = headless._open_store()
    session = headless._service(store, agents=False).find(args.session)
    sys.stdout.write(diff_versions(store, session["id"], args.a, args.b))
    return EXIT_OK
