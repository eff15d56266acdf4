"""Parsing `spec.md` into a `Spec`, with the line of every front-matter field."""

from __future__ import annotations

import copy
import hashlib
import keyword
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import UsageError

MAX_SPEC_BYTES = 1_000_000
OPTION_TYPES = ("str", "int", "float", "path", "choice", "flag")
ARGUMENT_TYPES = ("str", "int", "float", "path", "choice")
DEFAULT_INTEGRATIONS = {"github_actions": True, "circleci": False, "devcontainer": True}

Path_ = tuple  # a path into the front matter, e.g. ("commands", 0, "name")


class SpecError(UsageError):
    """A spec problem, located: `file:line: field: message` (exit 2)."""

    def __init__(self, file: str, line: int, field: str, message: str):
        self.file = file
        self.line = line
        self.field = field
        self.detail = message
        where = f"{file}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def field_name(path: Path_) -> str:
    """("commands", 0, "options", 1, "default") -> "commands[0].options[1].default"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def ident(name: str) -> str:
    """A kebab-case name as a Python identifier: `dry-run` -> `dry_run`, `class` -> `class_`."""
    out = name.replace("-", "_")
    if keyword.iskeyword(out) or keyword.issoftkeyword(out):
        out += "_"
    return out


@dataclass
class Spec:
    """A parsed spec. `raw` is the exact bytes; `data` the front matter with defaults."""

    raw: bytes
    source: str
    front: dict[str, Any]  # as written
    body: str
    lines: dict[Path_, int] = field(default_factory=dict)  # field path -> 1-based line
    front_start: int = 2  # line of the first front-matter line

    @property
    def text(self) -> str:
        """The spec as text for reading and parsing (a leading UTF-8 BOM removed)."""
        return decode(self.raw, self.source)

    @property
    def exact_text(self) -> str:
        """The exact bytes as text, a leading UTF-8 BOM included: encoding it as
        UTF-8 gives `raw` back, so a file written from it has this spec's sha256."""
        return self.raw.decode("utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    def line_of(self, path: Path_) -> int:
        """The line of a field, or of its nearest enclosing field that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return 1

    @property
    def data(self) -> dict[str, Any]:
        """The front matter with the design's defaults applied (a copy)."""
        d = copy.deepcopy(self.front)
        d.setdefault("version", "0.1.0")
        d.setdefault("license", "MIT")
        d.setdefault("dependencies", [])
        integ = dict(DEFAULT_INTEGRATIONS)
        integ.update(d.get("integrations") or {})
        d["integrations"] = integ
        for cmd in d.get("commands") or []:
            cmd.setdefault("arguments", [])
            cmd.setdefault("options", [])
            cmd["ident"] = ident(cmd["name"])
            for arg in cmd["arguments"]:
                arg.setdefault("type", "str")
                arg.setdefault("help", "")
                arg["ident"] = ident(arg["name"])
            for opt in cmd["options"]:
                opt.setdefault("type", "str")
                opt.setdefault("help", "")
                if opt["type"] == "flag":
                    opt["default"] = bool(opt.get("default", False))
                else:
                    opt.setdefault("default", None)
                opt["ident"] = ident(opt["name"])
        d["ident"] = ident(d["name"])
        return d

    @property
    def name(self) -> str:
        return self.front["name"]

    @property
    def template(self) -> str:
        return self.front["template"]

    @property
    def summary(self) -> str:
        return self.front["summary"]


def decode(raw: bytes, source: str) -> str:
    if b"\x00" in raw:
        raise SpecError(source, 1, "", "not a text file (it contains NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(source, line, "", f"not valid UTF-8 (byte {exc.start})") from None
    return text.removeprefix("\ufeff")


def parse_spec(text: str | bytes, source: str = "spec.md") -> Spec:
    """Parse a spec. Raises SpecError for a missing or invalid front matter."""
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(source, 1, "", f"too large ({len(raw):,} bytes; the limit is {MAX_SPEC_BYTES:,})")
    body_text = decode(raw, source)
    if not body_text.strip():
        raise SpecError(source, 1, "", "the spec is empty; it needs a YAML front matter between '---' lines")
    lines = body_text.splitlines(keepends=True)
    if lines[0].rstrip("\r\n").rstrip() != "---":
        raise SpecError(source, 1, "", "the spec must start with a '---' line opening the YAML front matter")
    end = None
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n").rstrip() in ("---", "..."):
            end = i
            break
    if end is None:
        raise SpecError(source, 1, "", "the YAML front matter is not closed by a '---' line")
    yaml_text = "".join(lines[1:end])
    body = "".join(lines[end + 1 :])
    try:
        node = yaml.compose(yaml_text, Loader=yaml.SafeLoader)
        front = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = (mark.line + 2) if mark is not None else 2
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(source, line, "front matter", f"invalid YAML: {problem}") from None
    if front is None:
        front = {}
    if not isinstance(front, dict):
        raise SpecError(source, 2, "front matter", "must be a YAML mapping of fields")
    line_map: dict[Path_, int] = {}
    _collect_lines(node, (), line_map, offset=2)
    return Spec(raw=raw, source=source, front=front, body=body, lines=line_map)


def _collect_lines(node: Any, path: Path_, out: dict[Path_, int], offset: int) -> None:
    if node is None:
        return
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            p = (*path, key)
            out.setdefault(p, key_node.start_mark.line + offset)
            _collect_lines(value_node, p, out, offset)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            p = (*path, i)
            out.setdefault(p, item.start_mark.line + offset)
            _collect_lines(item, p, out, offset)


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read a spec file. Every problem is a SpecError naming the file."""
    p = Path(path)
    source = str(path)
    if not p.exists():
        raise UsageErrorNoLine(source, "no such file")
    if p.is_dir():
        raise UsageErrorNoLine(source, "is a directory, not a spec file")
    try:
        size = p.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(source, 1, "", f"too large ({size:,} bytes; the limit is {MAX_SPEC_BYTES:,})")
        raw = p.read_bytes()
    except PermissionError:
        raise UsageErrorNoLine(source, "permission denied") from None
    except OSError as exc:
        raise UsageErrorNoLine(source, exc.strerror or str(exc)) from None
    return parse_spec(raw, source)


class UsageErrorNoLine(UsageError):
    def __init__(self, file: str, message: str):
        super().__init__(f"{file}: {message}")
        self.file = file


def write_spec(spec: Spec, path: str | os.PathLike[str]) -> None:
    """Write a spec back exactly as its bytes (a round trip changes nothing)."""
    Path(path).write_bytes(spec.raw)
