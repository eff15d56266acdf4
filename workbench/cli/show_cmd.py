"""`workbench show SESSION files | tests | rejected`: what a failed step leaves to fix.

- files: the model-owned files as the model last wrote them (the implementation and
  its repairs; a file it never wrote keeps its template content, shown by `show plan`);
- tests: the last run of the generated tests (command, exit code, output);
- rejected: every reply that failed its check (the spec, the findings JSON, file
  blocks), the validator's words, and the draft kept as a spec version to fix.

Read-only; the stored text is already redacted. Importing this module is cheap.
"""

from __future__ import annotations

import json

from workbench.errors import UsageError


def show_part(store, sid: str, what: str, shown=str) -> None:
    """Print one of files | tests | rejected of a session (`shown` escapes for a terminal)."""
    {"files": _files, "tests": _tests, "rejected": _rejected}[what](store, sid, shown)


def _files(store, sid: str, shown) -> None:
    raw = store.get_output(sid, "implementation", "files")
    files = json.loads(raw) if raw else {}
    if not files:
        raise UsageError(f"session {sid[:12]} has no model-written files yet (see `workbench show "
                         f"{sid[:12]} steps`)")
    for path, content in sorted(files.items()):
        print(shown(f"=== {path} ({len(content.encode()):,} bytes) ==="))
        print(shown(content.rstrip("\n")))
    print(shown(f"{len(files)} model-owned file(s)"))


def _tests(store, sid: str, shown) -> None:
    runs = store.list_runs(sid, step="tests") or store.list_runs(sid, step="monitor")
    if not runs:
        raise UsageError(f"session {sid[:12]} has run no tests yet")
    run = runs[-1]
    code = run.get("exit_code")
    print(shown(f"=== {run.get('step')} {run.get('kind')}: {run.get('command')} "
                f"(exit {'unknown' if code is None else code}, sandbox {run.get('sandbox')}) ==="))
    print(shown((run.get("output") or "").rstrip("\n")))


def _rejected(store, sid: str, shown) -> None:
    rows = [o for o in store.list_outputs(sid) if o["kind"] == "rejected"]
    kept = [v for v in store.list_spec_versions(sid) if v["source"] == "rejected"]
    if not rows and not kept:
        print(shown(f"session {sid[:12]} has no rejected model output"))
        return
    for o in rows:
        try:
            item = json.loads(store.get_output(sid, o["step"], "rejected", o["version"]) or "{}")
        except ValueError:
            continue
        print(shown(f"=== {o['step']}: {item.get('what')} from {item.get('model')}, attempt "
                    f"{item.get('attempt')}, rejected: {item.get('error')} ==="))
        print(shown(str(item.get("reply", "")).rstrip("\n")))
    for v in kept:
        print(shown(f"=== spec v{v['version']} is a rejected draft kept to fix: `workbench show {sid[:12]} "
                    f"spec` (the latest version), then `workbench resume {sid[:12]} --spec FILE` ==="))


def show_versions(store, sid: str, shown=str) -> None:
    """`workbench show SID versions`: every spec version, what changed from the one before."""
    from workbench.lifecycle.versions import list_versions

    rows = list_versions(store, sid)
    if not rows:
        raise UsageError(f"session {sid[:12]} has no spec yet")
    for r in rows:
        print(shown(f"v{r['version']:<3} {r['sha256'][:12]}  {r['source']:<8} {r['actor']:<22} "
                    f"{r['created']}  {r['change']}"))
