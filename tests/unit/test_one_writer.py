"""One writer: nothing outside workbench/safety/ creates, writes, renames or removes files
(the store keeps the database and its keyring). An AST check, beside test_import_hygiene."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tests.support.codegraph import ROOT, modules

PATH_METHODS = {"write_text", "write_bytes", "mkdir", "rename", "replace", "unlink", "rmdir",
                "touch", "symlink_to", "hardlink_to"}
OS_CALLS = {"rename", "replace", "remove", "unlink", "rmdir", "removedirs", "makedirs", "mkdir",
            "symlink", "link"}
SHUTIL_PREFIXES = ("rmtree", "move", "copy")
TEMPFILE_CALLS = {"mkdtemp"}
WRITE_MODES = set("wax+")

#: What may write, and why it cannot go through workbench/safety/.
ALLOWED = {
    "workbench.store.db": "the one writer of the database: it creates the folder it lives in",
    "workbench.store.audit": "the audit key (0600, linked into place so a second process never "
                             "sees half a key) and the heads file, beside the database: the "
                             "store's own files, whose atomicity the audit model rests on",
}


def _mode(node: ast.Call, position: int) -> ast.expr | None:
    if len(node.args) > position:
        return node.args[position]
    return next((k.value for k in node.keywords if k.arg == "mode"), None)


def _writes_mode(mode: ast.expr | None) -> bool:
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return bool(set(mode.value) & WRITE_MODES)
    return True  # a mode computed at run time may write


def _safety_names(tree: ast.AST) -> set[str]:
    """The names a module binds to workbench.safety modules (`from workbench.safety import fs`)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench.safety"):
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.asname for a in node.names if a.asname and a.name.startswith("workbench.safety")}
    return names


def file_writes(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Each call that changes the file system: (line, what)."""
    ours = _safety_names(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id == "open":
            if _writes_mode(_mode(node, 1)):
                yield node.lineno, "open() for writing"
            continue
        if not isinstance(f, ast.Attribute):
            continue
        base = f.value.id if isinstance(f.value, ast.Name) else None
        if base in ours:
            continue  # asking the safety module is the point
        if base == "os":
            if f.attr in OS_CALLS:
                yield node.lineno, f"os.{f.attr}"
        elif base == "shutil":
            if f.attr.startswith(SHUTIL_PREFIXES):
                yield node.lineno, f"shutil.{f.attr}"
        elif base == "tempfile":
            if f.attr in TEMPFILE_CALLS:
                yield node.lineno, f"tempfile.{f.attr}"
        elif f.attr in PATH_METHODS:
            # str.replace(old, new) is not Path.replace(target)
            if f.attr == "replace" and (len(node.args) != 1 or node.keywords):
                continue
            yield node.lineno, f"Path.{f.attr}"
        elif f.attr == "open":  # Path.open("w"); not gzip.open(p, "rb") nor backend.open(cb)
            mode = _mode(node, 0)
            if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and _writes_mode(mode):
                yield node.lineno, "Path.open() for writing"


def test_nothing_outside_safety_writes_renames_or_removes_files():
    offenders = []
    for mod, path in modules().items():
        if mod.startswith("workbench.safety") or mod in ALLOWED:
            continue
        for line, what in file_writes(ast.parse(path.read_text("utf-8"))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert offenders == [], (
        "write through workbench.safety (paths.write_file for a project's files, fs for the "
        "rest):\n" + "\n".join(offenders))


def test_the_allow_list_is_still_needed():
    """An allowed module that no longer writes is taken off the list."""
    known = modules()
    for mod in ALLOWED:
        assert list(file_writes(ast.parse(known[mod].read_text("utf-8")))), mod


def test_the_check_sees_each_kind_of_write():
    code = "\n".join([
        "open(p, 'w')", "open(p, mode='ab')", "open(p)", "p.write_text('x')", "p.mkdir()",
        "p.replace(q)", "s.replace('a', 'b')", "os.rename(a, b)", "os.remove(a)",
        "shutil.rmtree(d)", "shutil.copytree(a, b)", "tempfile.mkdtemp()", "p.open('w')",
        "p.open()", "p.unlink()", "p.symlink_to(q)", "fs.write_text(p, 'x')",
        "gzip.open(p, 'rb')", "backend.open(callback)",
    ])
    tree = ast.parse("from workbench.safety import fs\n" + code)
    lines = [line - 1 for line, _ in file_writes(tree)]
    assert lines == [1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13, 15, 16]
