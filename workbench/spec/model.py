"""Parsing `spec.md` into a `Spec`, with the line of every front-matter field."""

from __future__ import annotations

import copy
import hashlib
import keyword
import os
import stat
from dataclasses import dataclass, field
from typing import Any

import yaml

from workbench.errors import UsageError
from workbench.safety import fs

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


def _encode(text: str, source: str) -> bytes:
    """A spec given as text (an editor buffer, a model's reply) as UTF-8; a lone
    surrogate, which no file can hold, is a SpecError naming its line."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise SpecError(source, line, "", f"contains a lone surrogate (U+{ord(text[exc.start]):04X}), "
                                          "which is not valid Unicode text") from None


def parse_spec(text: str | bytes, source: str = "spec.md") -> Spec:
    """Parse a spec. Raises SpecError for a missing or invalid front matter."""
    raw = _encode(text, source) if isinstance(text, str) else bytes(text)
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
    node, front = _load_front_matter(yaml_text, source, offset=2)
    if front is None:
        front = {}
    if not isinstance(front, dict):
        raise SpecError(source, 2, "front matter", "must be a YAML mapping of fields")
    line_map: dict[Path_, int] = {}
    _collect_lines(node, (), line_map, offset=2)
    return Spec(raw=raw, source=source, front=front, body=body, lines=line_map)


# --- the front matter: YAML, read defensively ------------------------------------
# The format needs no aliases or anchors, and no spec within the size caps has more
# nodes or deeper nesting than these; a hostile file is refused before it is built.
MAX_COMMANDS = 200
MAX_OPTIONS = 200  # options (and, separately, arguments) of one command
# Parameters of all commands together: each one is a parser, a help line and tests in
# the generated project, whose own test run must stay within the tests step's limit.
MAX_PARAMETERS = 1_000
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 40
MAX_INT_CHARS = 40  # a plain integer scalar longer than this is refused (int(...) limits)

_Loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


def _yaml_error(exc: yaml.YAMLError, source: str, offset: int) -> SpecError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = (mark.line + offset) if mark is not None else offset
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return SpecError(source, line, "front matter", f"invalid YAML: {problem}")


def _screen_events(yaml_text: str, source: str, offset: int) -> None:
    """One pass over the YAML events (libyaml when present, no nodes built): refuse
    aliases and anchors, too many nodes, too deep a nesting, huge integers, and more
    commands or options than the caps - so a hostile spec costs one linear scan."""
    resolver = yaml.resolver.Resolver()
    # stack of containers: [is_mapping, path, expecting_key, key, count, start_line, keys seen]
    stack: list[list] = []
    nodes = 0
    params = [0]  # arguments and options of every command so far
    for ev in yaml.parse(yaml_text, Loader=_Loader):
        line = ev.start_mark.line + offset if ev.start_mark is not None else offset
        if isinstance(ev, yaml.AliasEvent):
            raise SpecError(source, line, "front matter",
                            f"YAML aliases (*{ev.anchor}) are not allowed in a spec; write the value out")
        if isinstance(ev, (yaml.CollectionEndEvent)):
            top = stack.pop()
            _check_count(top, source, params)
            _done_value(stack)
            continue
        if not isinstance(ev, yaml.NodeEvent):
            continue
        if ev.anchor is not None:
            raise SpecError(source, line, "front matter",
                            f"YAML anchors (&{ev.anchor}) are not allowed in a spec; write the value out")
        nodes += 1
        if nodes > MAX_YAML_NODES:
            raise SpecError(source, line, "front matter",
                            f"too many YAML values (more than {MAX_YAML_NODES:,})")
        path: Path_ = ()
        is_key = False
        if stack:
            parent = stack[-1]
            if parent[0]:
                if parent[2]:
                    is_key = True
                else:
                    path = (*parent[1], parent[3])
            else:
                path = (*parent[1], parent[4])
                parent[4] += 1
        if isinstance(ev, yaml.ScalarEvent):
            value = ev.value
            if len(value) > MAX_INT_CHARS and _tag(resolver, ev) == "tag:yaml.org,2002:int":
                raise SpecError(source, line, field_name(path[:8]) or "front matter",
                                f"an integer of {len(value):,} characters is too large "
                                f"(at most {MAX_INT_CHARS})")
            if is_key:
                if value in stack[-1][6]:  # a reader would keep the last: not what a reviewer read
                    raise SpecError(source, line, field_name((*stack[-1][1], value)[:8]),
                                    "given twice in the same mapping; keep one")
                stack[-1][6].add(value)
                stack[-1][2] = False
                stack[-1][3] = value
            else:
                _done_value(stack)
            continue
        if is_key:  # a mapping or list as a key: no spec field is one
            raise SpecError(source, line, "front matter", "a key must be a plain name")
        if len(stack) >= MAX_YAML_DEPTH:
            raise SpecError(source, line, field_name(path[:4]) or "front matter",
                            f"nested too deeply (more than {MAX_YAML_DEPTH} levels)")
        stack.append([isinstance(ev, yaml.MappingStartEvent), path, True, None, 0, line, set()])


def _tag(resolver: yaml.resolver.Resolver, ev: yaml.ScalarEvent) -> str:
    if ev.tag not in (None, "!"):
        return ev.tag
    return resolver.resolve(yaml.ScalarNode, ev.value, ev.implicit)


def _done_value(stack: list[list]) -> None:
    """A value of the innermost mapping is complete: its next node is a key."""
    if stack and stack[-1][0]:
        stack[-1][2] = True


def _check_count(container: list, source: str, params: list[int]) -> None:
    if container[0]:
        return
    path, count, line = container[1], container[4], container[5]
    if path == ("commands",):
        if count > MAX_COMMANDS:
            raise SpecError(source, line, "commands",
                            f"{count:,} commands; the limit is {MAX_COMMANDS}")
        if params[0] > MAX_PARAMETERS:
            raise SpecError(source, line, "commands",
                            f"{params[0]:,} arguments and options in all; the limit is "
                            f"{MAX_PARAMETERS:,} for a whole spec")
    if len(path) == 3 and path[0] == "commands" and path[2] in ("options", "arguments"):
        if count > MAX_OPTIONS:
            raise SpecError(source, line, field_name(path),
                            f"{count:,} {path[2]}; the limit is {MAX_OPTIONS} per command")
        params[0] += count


def _load_front_matter(yaml_text: str, source: str, offset: int) -> tuple[Any, Any]:
    """(node, data) of the front matter, after `_screen_events`; every failure is a SpecError."""
    try:
        _screen_events(yaml_text, source, offset)
        node = yaml.compose(yaml_text, Loader=_Loader)
        if node is None:
            return None, None
        front = yaml.SafeLoader("").construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source, offset) from None
    except (RecursionError, ValueError, OverflowError) as exc:
        raise SpecError(source, offset, "front matter",
                        f"cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})") from None
    return node, front


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


def read_user_file(path: str | os.PathLike[str], limit: int = MAX_SPEC_BYTES,
                   what: str = "a spec file") -> bytes:
    """The bytes of a file the user named: a regular file only (not a directory, FIFO,
    socket or device such as /dev/zero), opened without blocking, at most `limit`
    bytes (one more is read to tell a file that is too large). Every problem is a
    UsageError (exit 2) naming the path."""
    source = os.fspath(path)
    if source == "":
        raise UsageError(f"empty path (expected {what})")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(source, flags)
    except FileNotFoundError:
        raise UsageErrorNoLine(source, "no such file") from None
    except IsADirectoryError:
        raise UsageErrorNoLine(source, f"is a directory, not {what}") from None
    except PermissionError:
        raise UsageErrorNoLine(source, "permission denied") from None
    except OSError as exc:  # a socket (ENXIO), a name too long, a loop of links ...
        try:
            kind = _FILE_KINDS.get(stat.S_IFMT(os.stat(source).st_mode))
        except OSError:
            kind = None
        if kind:
            raise UsageErrorNoLine(source, f"is {kind}, not {what} (only regular files are read)") from None
        raise UsageErrorNoLine(source, f"cannot be opened ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UsageErrorNoLine(source, f"is a directory, not {what}")
        if not stat.S_ISREG(st.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise UsageErrorNoLine(source, f"is {kind}, not {what} (only regular files are read)")
        if st.st_size > limit:
            raise SpecError(source, 1, "", f"too large ({st.st_size:,} bytes; the limit is {limit:,})")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, limit + 1 - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise UsageErrorNoLine(source, f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # it grew while we read it
        raise SpecError(source, 1, "", f"too large (more than {limit:,} bytes; the limit is {limit:,})")
    return data


_FILE_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read a spec file (`read_user_file`: a regular file of at most MAX_SPEC_BYTES).
    Every problem is a SpecError or UsageError naming the file (exit 2)."""
    return parse_spec(read_user_file(path), os.fspath(path))


class UsageErrorNoLine(UsageError):
    def __init__(self, file: str, message: str):
        super().__init__(f"{file}: {message}")
        self.file = file


def write_spec(spec: Spec, path: str | os.PathLike[str]) -> None:
    """Write a spec back exactly as its bytes (a round trip changes nothing)."""
    fs.write_bytes(path, spec.raw)
