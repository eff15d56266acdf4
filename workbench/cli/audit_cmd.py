"""`workbench audit list | verify | export`: read the tamper-evident audit log.

    workbench audit list [--session S] [--step STEP] [--actor WHO] [--action A]
                         [--since 2h|2026-11-24] [--limit N] [--before ID]
    workbench audit verify [--manifest PROJECT/.workbench/manifest.json] [--project DIR]
    workbench audit export --format jsonl|csv [--output FILE] [filters]

`verify` exits 0 when the chain is intact and 1 naming the first bad event.
Importing this module is cheap (main.py registers it on every run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.safety import fs

EXIT_OK, EXIT_BAD = 0, 1
EXPORT_FIELDS = ("id", "ts", "session_id", "actor", "step", "action", "summary", "payload",
                 "tokens", "cost", "prev_hash", "hash")


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--session", metavar="ID", help="a session id (or a prefix of one)")
    p.add_argument("--step", metavar="STEP", help="a lifecycle step, e.g. approval")
    p.add_argument("--actor", metavar="WHO",
                   help="part of the actor, case-insensitive (a name, an email, agent:…)")
    p.add_argument("--action", metavar="ACTION", action="append",
                   help="an action, e.g. approve, edit, draft, commit, failure (repeatable)")
    p.add_argument("--since", metavar="WHEN",
                   help="an ISO date or time (2026-11-24, 2026-11-24T05:00Z) or an age (30m, 2h, 7d)")


def register(subparsers) -> argparse.ArgumentParser:
    audit = subparsers.add_parser(
        "audit", help="list, verify and export the audit log",
        description="The tamper-evident audit log: every human and agent action, hash-chained.",
    )
    sub = audit.add_subparsers(dest="audit_command", metavar="{list,verify,export}")

    ls = sub.add_parser("list", help="list events, newest first",
                        description="List audit events, newest first. `--action approve` shows "
                                    "who approved which spec (by sha256) and when.")
    _add_filters(ls)
    ls.add_argument("--limit", type=int, default=50, metavar="N", help="events to show (default 50)")
    ls.add_argument("--before", type=int, metavar="ID", help="only events older than this id (paging)")
    ls.add_argument("--db", metavar="PATH", help=argparse.SUPPRESS)

    verify = sub.add_parser(
        "verify", help="check the hash chain (exit 0 intact, 1 broken)",
        description="Walk the hash chain. Exit 0 when intact; 1 naming the first event that was "
                    "edited, deleted or reordered. With --manifest, also check the log still holds "
                    "everything a generated project's .workbench/manifest.json recorded (catches a "
                    "truncated log).",
    )
    verify.add_argument("--manifest", metavar="FILE", action="append",
                        help="a project's .workbench/manifest.json (or the project directory)")
    verify.add_argument("--project", metavar="DIR", action="append",
                        help="a project Workbench made: check the audit head in each of its "
                             "commits' trailers against the log (catches a dropped tail)")
    verify.add_argument("--db", metavar="PATH", help=argparse.SUPPRESS)

    export = sub.add_parser("export", help="export events as JSON lines or CSV (oldest first)")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    _add_filters(export)
    export.add_argument("--db", metavar="PATH", help=argparse.SUPPRESS)

    audit.set_defaults(func=run, _audit_parser=audit)
    return audit


def _store(args):
    from workbench.paths import db_path
    from workbench.store import Store

    return Store(Path(args.db) if getattr(args, "db", None) else db_path())


def _filters(args) -> dict:
    return {"session": args.session, "step": args.step, "actor": args.actor,
            "action": args.action, "since": args.since}


def run(args) -> int:
    cmd = getattr(args, "audit_command", None)
    if cmd is None:
        parser = getattr(args, "_audit_parser", None)
        if parser is not None:
            parser.print_help()
        return 2
    store = _store(args)
    try:
        if cmd == "list":
            return _list(store, args)
        if cmd == "verify":
            return _verify(store, args)
        if cmd == "export":
            return _export(store, args)
    finally:
        store.close()
    return 2


def _detail(event: dict, full: bool) -> str:
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return "" if payload is None else json.dumps(payload, ensure_ascii=False)[:60]
    parts = []
    for key in ("gate", "sha256", "version", "commit", "model", "exit_code"):
        if key in payload and payload[key] is not None:
            value = str(payload[key])
            if key in ("sha256", "commit") and not full:
                value = value[:12]
            parts.append(f"{key}={value}")
    return " ".join(parts)


def _list(store, args) -> int:
    from rich.console import Console
    from rich.table import Table

    from workbench.cli.terminal import cell, printable
    from workbench.errors import UsageError

    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    events = store.list_events(limit=args.limit, before_id=args.before, **_filters(args))
    console = Console()
    if not events:
        console.print("no audit events match", highlight=False)
        return EXIT_OK
    approvals = bool(args.action) and set(args.action) == {"approve"}
    costs = any(e["tokens"] is not None or e["cost"] is not None for e in events)
    rows = []
    for e in events:
        row = [str(e["id"]), e["ts"][:19].replace("T", " "), (e["session_id"] or "-")[:8],
               e["actor"], e["step"] or "-", e["action"], e["summary"] or "",
               _detail(e, full=approvals)]
        if costs:
            row += ["" if e["tokens"] is None else str(e["tokens"]),
                    "" if e["cost"] is None else f"${e['cost']:.4f}"]
        rows.append([printable(c) for c in row])  # escape sequences are shown, not obeyed
    if not console.is_terminal:  # piped: one plain line per event, tab-separated
        for row in rows:
            sys.stdout.write("\t".join(c.replace("\t", " ").replace("\n", " ") for c in row) + "\n")
        return EXIT_OK
    if approvals:  # the approval record: who approved which spec/plan hash, and when
        table = Table(show_edge=False, pad_edge=False, header_style="bold")
        for col in ("id", "time (UTC)", "session", "approved by", "gate", "sha256"):
            table.add_column(col, overflow="fold", justify="right" if col == "id" else "left")
        for e in events:
            p = e["payload"] if isinstance(e["payload"], dict) else {}
            table.add_row(*(cell(c) for c in (
                str(e["id"]), e["ts"][:19].replace("T", " "), (e["session_id"] or "-")[:8],
                e["actor"], str(p.get("gate", "")), str(p.get("sha256", "")))))
        console.print(table, highlight=False, markup=False)
        return EXIT_OK
    table = Table(show_edge=False, pad_edge=False, header_style="bold", expand=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("session", no_wrap=True)
    table.add_column("actor", max_width=28)
    table.add_column("step", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("summary", overflow="fold", ratio=2, min_width=20)
    table.add_column("detail", overflow="fold", ratio=1, min_width=16)
    if costs:
        table.add_column("tokens", justify="right", no_wrap=True)
        table.add_column("cost", justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*(cell(c) for c in row))
    console.print(table, highlight=False, markup=False)
    if len(events) == args.limit:
        console.print(f"older events: --before {events[-1]['id']}", style="dim", highlight=False,
                      markup=False)
    return EXIT_OK


def _manifest_path(value: str) -> Path:
    p = Path(value)
    if p.is_dir():
        p = p / ".workbench" / "manifest.json"
    return p


def _verify_project(store, project: str, chain):
    from workbench.errors import UsageError
    from workbench.integrate.git import audit_heads

    root = Path(project)
    if not root.is_dir():
        raise UsageError(f"--project {project}: no such directory")
    try:
        commits = audit_heads(root)
    except Exception as exc:  # noqa: BLE001 - git's own failure, said in one line
        raise UsageError(f"--project {project}: cannot read its commits: {exc}") from None
    if not commits:
        raise UsageError(f"--project {project}: no Workbench commit (no Workbench-Session trailer)")
    return store.verify_against_commits(commits, str(root), chain)


def _verify(store, args) -> int:
    problems = store.integrity_problems(full=True)  # a chain read from a damaged file proves nothing
    if problems:
        print(f"audit chain cannot be verified: database {store.path} is damaged: {problems[0][:200]}"
              + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")
              + " (fix: move it away; `sqlite3 DB .recover` may save its rows)", file=sys.stderr)
        return EXIT_BAD
    result = store.verify_chain()
    for m in args.manifest or []:
        if not result.ok:
            break
        result = store.verify_against_manifest(_manifest_path(m))
    for project in args.project or []:
        if not result.ok:
            break
        result = _verify_project(store, project, result)
    if result.ok:
        print(f"audit chain intact: {result.checked} event(s) verified ({result.keyed} keyed, "
              f"{result.unkeyed} unkeyed); head {store.audit_head()}"
              + (f"; matches {len(args.manifest)} manifest(s)" if args.manifest else "")
              + (f"; matches {len(args.project)} project(s)" if args.project else ""))
        for note in result.notes:  # what this could not prove, said plainly
            print(f"  cannot prove: {note}")
        return EXIT_OK
    bad = store.get_event(result.first_bad_id) if result.first_bad_id is not None else None
    where = ""
    if bad is not None:
        from workbench.cli.terminal import printable

        where = printable(f" [{bad['ts']} {bad['actor']} {bad['action']}: {bad['summary'][:60]}]")
    at = "outside the database" if result.first_bad_id is None else f"at event {result.first_bad_id}"
    print(f"audit chain BROKEN {at}: {result.reason}{where} "
          f"({result.checked} event(s) before it verified)", file=sys.stderr)
    return EXIT_BAD


# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): quoted with `'`.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value for a CSV cell: None as empty, a text that starts like a formula prefixed with `'`."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _export(store, args) -> int:
    events = store.iter_events(**_filters(args))
    try:
        out = fs.open_for_writing(args.output, newline="") if args.output else sys.stdout
    except OSError as exc:
        from workbench.errors import UsageError

        raise UsageError(f"--output {args.output}: {exc.strerror or exc}") from None
    from workbench.cli.terminal import printable

    # on a terminal, escape sequences in the data are shown, not obeyed (OSC 52 writes the clipboard)
    shown = printable if out.isatty() else str
    count = 0
    try:
        if args.format == "jsonl":
            for e in events:
                out.write(shown(json.dumps(e, ensure_ascii=False, separators=(",", ":"))) + "\n")
                count += 1
        else:
            import csv

            writer = csv.writer(out)
            writer.writerow(EXPORT_FIELDS)
            for e in events:
                row = dict(e)
                if row["payload"] is not None:
                    row["payload"] = json.dumps(row["payload"], ensure_ascii=False,
                                                sort_keys=True, separators=(",", ":"))
                cells = (csv_cell(row[f]) for f in EXPORT_FIELDS)
                writer.writerow([shown(c) if isinstance(c, str) else c for c in cells])
                count += 1
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"exported {count} event(s) to {args.output}", file=sys.stderr)
    return EXIT_OK
