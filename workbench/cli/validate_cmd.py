"""`workbench validate SPEC [--json]`: every validation error of a spec at once.

No model is involved and nothing is written. Exit 0 when the spec is valid, 2 when
it is not (or cannot be read). With `--json`, one object on stdout:

    {"schema": 1, "file": "spec.md", "valid": false,
     "errors": [{"file": "spec.md", "line": 7, "field": "commands[0].name", "message": "..."}]}

A spec that cannot be parsed at all (no front matter, invalid YAML, too large, not a
regular file) gives one error, located as precisely as the parser can.
"""

from __future__ import annotations

import argparse
import json
import sys

from workbench.errors import EXIT_OK, EXIT_USAGE

SCHEMA_VERSION = 1


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "validate", help="list every validation error of a spec (no model involved)",
        description="Check a spec.md against the spec format and the installed templates and list "
                    "every error at once, each with its file, line and field. Exit 0 when valid, "
                    "2 when not.")
    p.add_argument("spec", metavar="SPEC", help="the spec.md to check")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)
    return p


def _as_dict(err) -> dict:
    return {"file": getattr(err, "file", ""), "line": getattr(err, "line", 0),
            "field": getattr(err, "field", ""), "message": getattr(err, "detail", str(err))}


def check(path: str) -> tuple[list[dict], object | None]:
    """(every error as a dict, the parsed spec or None)."""
    from workbench.errors import UsageError
    from workbench.scaffold import template_ids
    from workbench.spec import SpecError, load_spec, validation_errors

    try:
        spec = load_spec(path)
    except SpecError as err:
        return [_as_dict(err)], None
    except UsageError as err:  # not a regular file, too large, unreadable ...
        message = str(err)
        message = message[len(path) + 2:] if path and message.startswith(f"{path}: ") else message
        return [{"file": path, "line": 0, "field": "", "message": message}], None
    return [_as_dict(e) for e in validation_errors(spec, template_ids())], spec


def run(args) -> int:
    from workbench.cli.terminal import printable

    errors, spec = check(args.spec)
    if args.json:
        print(json.dumps({"schema": SCHEMA_VERSION, "file": args.spec, "valid": not errors,
                          "errors": errors}, ensure_ascii=False))
        return EXIT_OK if not errors else EXIT_USAGE
    shown = printable if sys.stdout.isatty() else str
    if not errors:
        name = spec.data.get("name", "") if spec is not None else ""
        print(shown(f"{args.spec}: valid ({name}, {len(spec.data.get('commands', []))} command(s))"))
        return EXIT_OK
    for e in errors:
        name = e["file"] or "SPEC"
        where = f"{name}:{e['line']}" if e["line"] else name
        print(shown(f"{where}: {e['field']}: {e['message']}" if e["field"] else f"{where}: {e['message']}"),
              file=sys.stderr)
    print(f"{len(errors)} error{'s' if len(errors) != 1 else ''}", file=sys.stderr)
    return EXIT_USAGE
