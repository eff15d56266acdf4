"""Spec versions: list them, compare two at the level of commands and options, restore one.

`compare(a_text, b_text)` says what was added, removed or changed: the front matter's
fields (name, summary, version, dependencies, integrations ...), each command, and each
command's arguments and options (by name; a changed one names the keys that changed),
plus a unified diff of the body. A version that does not parse is compared as text.
"""

from __future__ import annotations

import difflib

from workbench.errors import UsageError

TOP_FIELDS = ("name", "summary", "template", "version", "license", "dependencies", "integrations")


def _front(text: str) -> tuple[dict | None, str]:
    from workbench.spec import SpecError, parse_spec

    try:
        spec = parse_spec(text, "spec.md")
    except SpecError:
        return None, text
    return spec.data, spec.body


def _by_name(items) -> dict[str, dict]:
    return {str(i.get("name")): i for i in (items or []) if isinstance(i, dict)}


def _changed_keys(a: dict, b: dict) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def compare(a_text: str, b_text: str) -> list[str]:
    """One line per difference: `+ command stats`, `~ command convert: + option --limit`, ..."""
    a, a_body = _front(a_text)
    b, b_body = _front(b_text)
    if a is None or b is None:
        return ["(a version does not parse: compared as text only)"]
    lines = [f"~ {k}: {a.get(k)!r} -> {b.get(k)!r}" for k in TOP_FIELDS if a.get(k) != b.get(k)]
    ca, cb = _by_name(a.get("commands")), _by_name(b.get("commands"))
    for name in cb.keys() - ca.keys():
        lines.append(f"+ command {name}")
    for name in ca.keys() - cb.keys():
        lines.append(f"- command {name}")
    for name in sorted(ca.keys() & cb.keys()):
        x, y = ca[name], cb[name]
        parts = []
        for kind, key, shown in (("argument", "arguments", "{}"), ("option", "options", "--{}")):
            xa, ya = _by_name(x.get(key)), _by_name(y.get(key))
            parts += [f"+ {kind} {shown.format(n)}" for n in sorted(ya.keys() - xa.keys())]
            parts += [f"- {kind} {shown.format(n)}" for n in sorted(xa.keys() - ya.keys())]
            parts += [f"~ {kind} {shown.format(n)} ({', '.join(_changed_keys(xa[n], ya[n]))})"
                      for n in sorted(xa.keys() & ya.keys()) if xa[n] != ya[n]]
        other = [k for k in _changed_keys(x, y) if k not in ("arguments", "options")]
        parts += [f"~ {k}" for k in other]
        if parts:
            lines.append(f"~ command {name}: " + "; ".join(parts))
    if a_body != b_body:
        lines.append("~ body")
    return lines


def spec_diff_text(a_text: str, b_text: str, a_name: str = "A", b_name: str = "B") -> str:
    """The structured changes, then the unified diff of the whole text."""
    changes = compare(a_text, b_text)
    head = "".join(f"{line}\n" for line in changes) or "(no change)\n"
    diff = "".join(difflib.unified_diff(a_text.splitlines(True), b_text.splitlines(True), a_name, b_name))
    return head + ("\n" + diff if diff else "")


def diff_versions(store, sid: str, a: int, b: int) -> str:
    va, vb = store.get_spec_version(sid, a), store.get_spec_version(sid, b)
    have = [v["version"] for v in store.list_spec_versions(sid)]
    for n, v in ((a, va), (b, vb)):
        if v is None:
            listed = f"v1-v{max(have)}" if have else "none"
            raise UsageError(f"session {sid[:12]} has no spec version {n} (versions: {listed}; "
                             f"workbench show {sid[:12]} versions)")
    return spec_diff_text(va["text"], vb["text"], f"v{a}", f"v{b}")


def list_versions(store, sid: str) -> list[dict]:
    """Every version with a one-line summary of what changed from the one before."""
    rows, prev = [], None
    for v in store.list_spec_versions(sid):
        if prev is None:
            change = "first version"
        else:
            changes = compare(prev["text"], v["text"])
            change = "; ".join(changes) if changes else "same text" if prev["text"] == v["text"] else "whitespace"
        rows.append({**v, "change": change})
        prev = v
    return rows


def restore(service, sid: str, n: int, actor: str | None = None) -> dict:
    """Make version `n` the newest again (a new version with its text, reviewed again)."""
    v = service.store.get_spec_version(sid, n)
    if v is None:
        raise UsageError(f"--restore {n}: session {sid[:12]} has no spec version {n} "
                         f"(workbench show {sid[:12]} versions)")
    return service.revise_spec(sid, v["text"], actor=actor)
