"""The `workbench` command line.

Kept light on purpose: `workbench --version` and `--help` import nothing heavy;
each subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys

from workbench import __version__
from workbench.errors import EXIT_USAGE, WorkbenchError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (the contract's "bad usage")
        self.print_usage(sys.stderr)
        print(f"workbench: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="workbench",
        description="A terminal workbench for building command-line tools with AI, spec first. "
                    "With no command, opens the TUI; `workbench DIR` opens a project Workbench made "
                    "in the TUI, to evolve it.",
    )
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    p.add_argument("--session", metavar="ID", help="open the TUI on an earlier session (id or prefix)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    new = sub.add_parser("new", help="run the whole lifecycle headless",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Turn a request (or a spec) into a complete, tested, CI-ready project.\n\n"
                                     "exit codes:\n  0  done\n  1  a step failed\n  2  bad usage or bad input\n"
                                     "  3  stopped at an approval gate")
    new.add_argument("request", metavar="REQUEST", help="what the tool should do, in your words")
    new.add_argument("--out", required=True, metavar="DIR", help="where to create the project (must not exist or be empty)")
    new.add_argument("--spec", metavar="FILE", help="use this spec instead of drafting one")
    new.add_argument("--model", metavar="NAME", help="model alias or LiteLLM id for this run")
    new.add_argument("--template", metavar="ID", help="template id (default: python-cli)")
    new.add_argument("--yes", action="store_true", help="approve at every gate (otherwise stop at the first)")
    new.add_argument("--allow-unsandboxed", action="store_true",
                     help="run generated code without bubblewrap when it is missing")
    new.add_argument("--no-monitor", action="store_true", help="skip the final monitor step")
    new.add_argument("--json", action="store_true",
                     help="the engine's events as JSON lines on stdout (docs/events.md)")

    resume = sub.add_parser("resume", help="resume a session where it stopped")
    resume.add_argument("session", metavar="SESSION", help="session id (or a unique prefix)")
    resume.add_argument("--yes", action="store_true", help="approve at every gate")
    resume.add_argument("--approve", metavar="SHA",
                        help="approve only the gate now waiting, and only if its sha256 starts with SHA")
    resume.add_argument("--spec", metavar="FILE", help="replace the session's spec with this file first")
    resume.add_argument("--restore", metavar="N", type=int,
                        help="make spec version N the newest again first (workbench show SESSION versions)")
    resume.add_argument("--no-review", action="store_true",
                        help="go on without the Reviewer agent (recorded in the audit log)")
    resume.add_argument("--allow-unsandboxed", action="store_true",
                        help="run generated code without bubblewrap when it is missing")
    resume.add_argument("--no-monitor", action="store_true", help="skip the final monitor step")
    resume.add_argument("--json", action="store_true",
                        help="the engine's events as JSON lines on stdout (docs/events.md)")

    show = sub.add_parser("show", help="print a session's spec, findings, plan, steps, the model's "
                                       "files, the last test output or rejected model output")
    show.add_argument("session", metavar="SESSION", help="session id (or a unique prefix)")
    show.add_argument("what", nargs="?", default="steps",
                      choices=["steps", "spec", "analysis", "findings", "plan", "files", "tests",
                               "rejected", "versions"])

    findings = sub.add_parser(
        "findings", help="list a session's review findings; apply or dismiss them",
        description="List the review findings of a session's spec, or decide on them. Applying "
                    "one has the Tool Builder agent change the spec as it suggests (a new spec "
                    "version; the review runs again on `workbench resume`). Dismissing one records "
                    "your reason in the audit log.")
    findings.add_argument("session", metavar="SESSION", help="session id (or a unique prefix)")
    findings.add_argument("--apply", metavar="N", nargs="+", default=[],
                          help="apply these findings (numbers as listed, or ids)")
    findings.add_argument("--dismiss", metavar="N", nargs="+", default=[],
                          help="dismiss these findings (numbers as listed, or ids)")
    findings.add_argument("--reason", default="", help="why they are dismissed (recorded)")

    sub.add_parser("sessions", help="list recent sessions and where they stopped")
    sub.add_parser("templates", help="list available templates")

    serve = sub.add_parser("serve", help="serve the TUI in a browser (for a forwarded port)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    for module in ("models_cmd", "audit_cmd", "metrics_cmd", "doctor_cmd", "validate_cmd", "evolve_cmd"):
        mod = _optional(module)
        if mod is not None:
            mod.register(sub)
    return p


def _optional(module: str):
    import importlib

    try:
        return importlib.import_module(f"workbench.cli.{module}")
    except ImportError:
        return None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so every `finally` (temporary
    folders, the session marked interrupted, the database closed) runs before exit 143."""


_EXIT_SIGINT, _EXIT_SIGTERM = 130, 143


def _interrupted(exc: BaseException) -> int:
    if isinstance(exc, Terminated):
        print("workbench: terminated (SIGTERM); `workbench resume` continues a session",
              file=sys.stderr)
        return _EXIT_SIGTERM
    print("workbench: interrupted", file=sys.stderr)
    return _EXIT_SIGINT


def _on_sigterm():
    """Turn SIGTERM into `Terminated` for the duration of a command; returns the undo.
    A second SIGTERM while cleaning up ends the process at once (the default)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    seen = []

    def handler(signum, frame):
        seen.append(signum)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        return lambda: None

    def undo() -> bool:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)
        return bool(seen)

    return undo


def main(argv: list[str] | None = None) -> int:
    """Run one command. Ctrl-C (also while the heavy modules are still being imported)
    ends with one line and exit 130; SIGTERM with one line and exit 143, after cleanup."""
    undo = _on_sigterm()
    terminated = False
    try:
        code = _main(argv)
    except KeyboardInterrupt as exc:  # before a command ran: building the parser, importing
        code = _interrupted(exc)
    finally:
        terminated = undo()
    if terminated and code != _EXIT_SIGTERM:  # a command that handled the exception itself
        code = _EXIT_SIGTERM
    return code


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:  # the fast path: nothing else is imported
        print(f"workbench {__version__}")
        return 0
    parser = build_parser()
    try:
        project = _project_argument(parser, argv)
        if project is not None:  # `workbench DIR`: the TUI, on that project for evolve
            from workbench.ui.app import run

            return run(project=project) or 0
        args = parser.parse_args(argv)
        return _dispatch(parser, args)
    except WorkbenchError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except BrokenPipeError:  # `workbench audit list | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a damaged database anywhere: one line, not a traceback
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is None or not isinstance(exc, sqlite3.DatabaseError):
            raise
        from workbench.store.db import describe_db_error

        err = describe_db_error(exc)
        print(f"workbench: {err}", file=sys.stderr)
        return err.exit_code


def _project_argument(parser, argv: list[str]):
    """`workbench DIR` (one argument, an existing folder, not a command's name): the
    folder, when Workbench made it; a folder it did not make is bad usage (exit 2)."""
    import os
    from pathlib import Path

    if len(argv) != 1 or argv[0].startswith("-") or not os.path.isdir(argv[0]):
        return None
    commands = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
    if argv[0] in commands:
        return None
    from workbench.ui.screens.project import project_problem

    problem = project_problem(argv[0])
    if problem:
        raise WorkbenchError(f"DIR {problem}", EXIT_USAGE)
    return Path(argv[0]).resolve()


def _dispatch(parser, args) -> int:
    cmd = args.command
    if cmd is None:
        from workbench.ui.app import run

        return run(session=args.session) or 0
    if cmd in ("new", "resume", "sessions", "show", "findings"):
        from workbench.cli import headless

        return getattr(headless, f"cmd_{cmd}")(args)
    if cmd == "templates":
        from workbench.scaffold import list_templates

        for t in list_templates():
            print(f"{t.id:<14} {t.description}")
        return 0
    if cmd == "serve":
        from workbench.ui.serve import serve

        return serve(args.host, args.port) or 0
    func = getattr(args, "func", None)  # the registered subcommands (models, audit, doctor ...)
    if func is not None:
        return func(args)
    parser.error(f"unknown command {cmd}")
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
