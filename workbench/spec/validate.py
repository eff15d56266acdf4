"""Validation of a spec's front matter against the contract in design.md."""

from __future__ import annotations

import re
from typing import Any

from workbench.spec.model import (
    ARGUMENT_TYPES,
    DEFAULT_INTEGRATIONS,
    OPTION_TYPES,
    Spec,
    SpecError,
    field_name,
    ident,
)

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
VERSION_RE = re.compile(r"^\d+(\.\d+){0,3}((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

TOP_FIELDS = (
    "name", "summary", "template", "version", "license", "commands", "dependencies", "integrations",
)
COMMAND_FIELDS = ("name", "summary", "arguments", "options")
ARGUMENT_FIELDS = ("name", "type", "help", "choices", "nargs")
OPTION_FIELDS = ("name", "type", "help", "choices", "default", "short", "required", "multiple")
NARGS = ("?", "*", "+")
SHORT_RE = re.compile(r"^[A-Za-z]$")
RESERVED_SHORTS = ("h",)
RESERVED_OPTIONS = ("help",)
# A project named like its own test or build tools could not be installed beside them.
RESERVED_TOOL_NAMES = ("pytest", "ruff", "pip", "setuptools", "wheel", "bats", "shellcheck")


class _Collector:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.errors: list[SpecError] = []

    def add(self, path: tuple, message: str) -> None:
        self.errors.append(SpecError(self.spec.source, self.spec.line_of(path), field_name(path), message))


def validation_errors(spec: Spec, templates: list[str] | None = None) -> list[SpecError]:
    """Every problem in the spec, in the order of the file."""
    c = _Collector(spec)
    front = spec.front
    _hostile_text(c, front)
    for key in front:
        if key not in TOP_FIELDS:
            c.add((key,), f"unknown field (expected one of: {', '.join(TOP_FIELDS)})")

    name = _name(c, front, ("name",), required=True, max_len=40, min_len=2)
    if name in RESERVED_TOOL_NAMES:
        c.add(("name",), f"'{name}' is the name of a tool the generated project itself depends on")
    _line_string(c, front, ("summary",), required=True)
    template = front.get("template")
    if "template" not in front:
        c.add(("template",), _missing("template"))
    elif not isinstance(template, str) or not template:
        c.add(("template",), "must be a template id")
    elif templates is not None and template not in templates:
        c.add(("template",), f"unknown template '{template}' (available: {', '.join(sorted(templates)) or 'none'})")
    if "version" in front:
        v = front["version"]
        if not isinstance(v, str) or not VERSION_RE.fullmatch(v):
            c.add(("version",), f"must be a version string such as 0.1.0 (got {v!r}); quote it in YAML")
    if "license" in front and _line_string(c, front, ("license",), required=False):
        _license(c, front["license"], ("license",))

    commands = front.get("commands")
    if "commands" not in front:
        c.add(("commands",), _missing("commands") + " (one or more subcommands)")
    elif not isinstance(commands, list) or not commands:
        c.add(("commands",), "must be a list of one or more commands")
    else:
        seen: dict[str, int] = {}
        for i, cmd in enumerate(commands):
            _command(c, cmd, ("commands", i), seen)

    deps = front.get("dependencies", [])
    if deps is None:
        deps = []
    if deps and template == "bash-cli":
        c.add(("dependencies",), "bash-cli projects install no dependencies; remove them or use python-cli")
    elif not isinstance(deps, list):
        c.add(("dependencies",), "must be a list of PEP 508 requirement strings")
    else:
        for i, dep in enumerate(deps):
            _dependency(c, dep, ("dependencies", i))

    integ = front.get("integrations")
    if integ is not None:
        if not isinstance(integ, dict):
            c.add(("integrations",), "must be a mapping of integration names to true/false")
        else:
            for key, value in integ.items():
                if key not in DEFAULT_INTEGRATIONS:
                    c.add(("integrations", key), f"unknown integration (expected one of: {', '.join(DEFAULT_INTEGRATIONS)})")
                elif not isinstance(value, bool):
                    c.add(("integrations", key), "must be true or false")
    c.errors.sort(key=lambda e: e.line)
    return c.errors


def validate(spec: Spec, templates: list[str] | None = None) -> None:
    """Raise the first validation error, if any."""
    errors = validation_errors(spec, templates)
    if errors:
        raise errors[0]


def _missing(field: str) -> str:
    return f"required field '{field}' is missing"


def _get(obj: dict, path: tuple) -> Any:
    return obj.get(path[-1]) if isinstance(obj, dict) else None


def _line_string(c: _Collector, obj: dict, path: tuple, required: bool) -> bool:
    key = path[-1]
    if key not in obj:
        if required:
            c.add(path, _missing(key))
        return False
    value = obj[key]
    if not isinstance(value, str):
        c.add(path, f"must be a string (got {type(value).__name__}); quote it in YAML")
        return False
    if required and not value.strip():
        c.add(path, "must not be empty")
        return False
    if "\n" in value or "\r" in value:
        c.add(path, "must be a single line")
        return False
    if CONTROL_RE.search(value):
        c.add(path, "must not contain control characters")
        return False
    return True


def _name(c: _Collector, obj: dict, path: tuple, required: bool, max_len: int = 40, min_len: int = 1) -> str | None:
    key = path[-1]
    if key not in obj:
        if required:
            c.add(path, _missing(key))
        return None
    value = obj[key]
    if not isinstance(value, str):
        c.add(path, f"must be a lowercase kebab-case string (got {type(value).__name__})")
        return None
    if not NAME_RE.fullmatch(value) or not (min_len <= len(value) <= max_len):
        c.add(path, f"{value!r} is not lowercase kebab-case of {min_len}-{max_len} characters "
                    "(letters, digits and single hyphens, starting with a letter)")
        return None
    return value


def _command(c: _Collector, cmd: Any, path: tuple, seen: dict[str, int]) -> None:
    if not isinstance(cmd, dict):
        c.add(path, "must be a mapping with name and summary")
        return
    for key in cmd:
        if key not in COMMAND_FIELDS:
            c.add((*path, key), f"unknown field (expected one of: {', '.join(COMMAND_FIELDS)})")
    name = _name(c, cmd, (*path, "name"), required=True)
    if name is not None:
        if name in seen:
            c.add((*path, "name"), f"duplicate command name '{name}' (also commands[{seen[name]}])")
        else:
            seen[name] = path[-1]
    _line_string(c, cmd, (*path, "summary"), required=True)
    params: dict[str, str] = {}  # identifier -> where
    for kind, fields, types in (
        ("arguments", ARGUMENT_FIELDS, ARGUMENT_TYPES),
        ("options", OPTION_FIELDS, OPTION_TYPES),
    ):
        items = cmd.get(kind)
        if items is None:
            continue
        if not isinstance(items, list):
            c.add((*path, kind), f"must be a list of {kind}")
            continue
        for j, item in enumerate(items):
            _param(c, item, (*path, kind, j), kind, fields, types, params)
    _interface(c, cmd, path)
    _option_strings(c, cmd, path)


def _param(c, item, path, kind, fields, types, params) -> None:
    if not isinstance(item, dict):
        c.add(path, "must be a mapping with name, type and help")
        return
    for key in item:
        if key in _MISPLACED.get(kind, {}):
            c.add((*path, key), _MISPLACED[kind][key])
        elif key not in fields:
            c.add((*path, key), f"unknown field (expected one of: {', '.join(fields)})")
    name = _name(c, item, (*path, "name"), required=True)
    if name is not None:
        if kind == "options" and name in RESERVED_OPTIONS:
            c.add((*path, "name"), f"'--{name}' is reserved")
        key = ident(name)
        if key in params:
            c.add((*path, "name"), f"duplicate name '{name}' (also {params[key]})")
        else:
            params[key] = field_name(path)
    typ = item.get("type", "str")
    if not isinstance(typ, str) or typ not in types:
        c.add((*path, "type"), f"unknown type {typ!r} (expected one of: {', '.join(types)})")
        typ = None
    if "help" in item:
        _line_string(c, item, (*path, "help"), required=False)
    choices = item.get("choices")
    if typ == "choice":
        if not isinstance(choices, list) or not choices:
            c.add((*path, "choices"), "a choice needs a non-empty list of choices")
            choices = None
        else:
            for k, ch in enumerate(choices):
                if not isinstance(ch, str) or not ch or CONTROL_RE.search(ch) or "\n" in ch:
                    c.add((*path, "choices", k), "each choice must be a non-empty single-line string")
                    choices = None
                    break
            if choices is not None and len(set(choices)) != len(choices):
                c.add((*path, "choices"), "choices must not repeat")
    elif "choices" in item and typ is not None:
        c.add((*path, "choices"), f"choices only apply to type choice (this is {typ})")
    if "default" in item and typ is not None:
        _default(c, item["default"], (*path, "default"), typ, choices)


# A field of one kind of parameter written on the other: say what to use instead.
_MISPLACED = {
    "arguments": {
        "short": "short only applies to options (an argument is positional)",
        "required": "an argument is required unless its nargs is \"?\" or \"*\"; use nargs",
        "multiple": "an argument takes several values with nargs: \"*\" or \"+\", not multiple",
        "default": "an argument has no default; make it an option, or optional with nargs: \"?\"",
    },
    "options": {
        "nargs": "nargs only applies to arguments; an option takes several values with multiple: true",
    },
}


def _interface(c: _Collector, cmd: dict, path: tuple) -> None:
    """short, required, multiple (options) and nargs (arguments): each well-formed,
    short letters unique in the command, and positionals in an order a parser can
    read: at most one variadic argument, last, and no required one after an optional."""
    options = cmd.get("options")
    shorts: dict[str, str] = {}
    for j, opt in enumerate(options if isinstance(options, list) else []):
        if not isinstance(opt, dict):
            continue
        where = (*path, "options", j)
        typ = opt.get("type", "str")
        if "short" in opt:
            short = opt["short"]
            if not isinstance(short, str) or not SHORT_RE.fullmatch(short):
                c.add((*where, "short"), f"must be one ASCII letter, such as o for -o (got {short!r})")
            elif short in RESERVED_SHORTS:
                c.add((*where, "short"), f"'-{short}' is reserved for --help")
            elif short in shorts:
                c.add((*where, "short"), f"duplicate short option '-{short}' (also {shorts[short]})")
            else:
                shorts[short] = field_name(where)
        for key in ("required", "multiple"):
            if key not in opt:
                continue
            if not isinstance(opt[key], bool):
                c.add((*where, key), f"must be true or false (got {opt[key]!r})")
            elif opt[key] and typ == "flag":
                c.add((*where, key), f"a flag cannot be {key}; it is a switch, on or off")
            elif opt[key] and opt.get("default") is not None:
                c.add((*where, "default"), f"a {key} option takes no default"
                      + (" (it starts as an empty list)" if key == "multiple" else ""))
    arguments = cmd.get("arguments")
    optional_at = variadic_at = None
    for j, arg in enumerate(arguments if isinstance(arguments, list) else []):
        if not isinstance(arg, dict):
            continue
        where = (*path, "arguments", j)
        nargs = arg.get("nargs")
        if "nargs" in arg and nargs not in NARGS:
            c.add((*where, "nargs"), f'must be "?" (optional), "*" (any number) or "+" (at least one), '
                                     f"quoted in YAML (got {nargs!r})")
            continue
        if variadic_at is not None:
            c.add(where, f"comes after {variadic_at}, which takes every remaining value; "
                         "a variadic argument (nargs * or +) must be the last")
        elif nargs in (None, "+") and optional_at is not None:
            c.add(where, f"a required argument cannot follow the optional {optional_at}")
        if nargs in ("*", "+"):
            variadic_at = variadic_at or field_name(where)
        if nargs in ("?", "*"):
            optional_at = optional_at or field_name(where)


def _default(c, value, path, typ, choices) -> None:
    if value is None:
        return
    ok = {
        "str": lambda v: isinstance(v, str),
        "path": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "flag": lambda v: isinstance(v, bool),
        "choice": lambda v: isinstance(v, str),
    }[typ](value)
    if not ok:
        c.add(path, f"default {value!r} is not a valid {typ}")
        return
    if not _number_ok(c, value, path):
        return
    if isinstance(value, str) and ("\n" in value or CONTROL_RE.search(value)):
        c.add(path, "must be a single line without control characters")
        return
    if typ == "choice" and choices is not None and value not in choices:
        c.add(path, f"default {value!r} is not among the choices ({', '.join(choices)})")


def _dependency(c, dep, path) -> None:
    if not isinstance(dep, str) or not dep.strip():
        c.add(path, "must be a PEP 508 requirement string")
        return
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging ships with pip's dependencies
        return
    try:
        req = Requirement(dep)
    except InvalidRequirement as exc:
        c.add(path, f"not a valid PEP 508 requirement: {str(exc).splitlines()[0]}")
        return
    if req.url:
        c.add(path, "direct URL requirements are not allowed")


def _license(c: _Collector, value: str, path: tuple) -> None:
    """The licence must be an SPDX expression whose full text the project can ship."""
    from workbench.spec.licences import license_problem

    problem = license_problem(value)
    if problem is not None:
        c.add(path, problem)


# --- hostile input: characters, numbers and parser collisions -----------------------
# Text that must never reach a generated file, a terminal or a UTF-8 encoder: lone
# surrogates (they cannot be encoded), C1 controls, and the bidi embeddings, overrides
# and isolates that make code read differently from what it is ("Trojan Source").
HOSTILE_RE = re.compile("[\ud800-\udfff\x80-\x9f\u202a-\u202e\u2066-\u2069]")
MAX_INT_DEFAULT = 2**63  # a default must fit the int64 of every consumer (JSON, bash)


def _describe_char(ch: str) -> str:
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X})"
    if code <= 0x9F:
        return f"a C1 control character (U+{code:04X})"
    return f"a bidirectional control character (U+{code:04X})"


def _hostile_text(c: _Collector, front: dict) -> None:
    """Every string of the front matter, keys included, free of HOSTILE_RE characters."""
    stack: list[tuple[tuple, Any]] = [((), front)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            m = HOSTILE_RE.search(value)
            if m:
                c.add(path or ("front matter",),
                      f"contains {_describe_char(m.group())}; remove it")
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and HOSTILE_RE.search(key):
                    c.add((*path, key), f"the field name contains "
                          f"{_describe_char(HOSTILE_RE.search(key).group())}; remove it")
                    continue
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))


def _number_ok(c: _Collector, value: Any, path: tuple) -> bool:
    """A numeric default a generated program can hold and print: finite, int64."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        c.add(path, f"default {value!r} is not a finite number (.nan and .inf are not allowed)")
        return False
    if isinstance(value, int) and not isinstance(value, bool) and \
            not -MAX_INT_DEFAULT <= value < MAX_INT_DEFAULT:
        c.add(path, "default is out of range (a 64-bit integer at most)")
        return False
    return True


def _option_strings(c: _Collector, cmd: dict, path: tuple) -> None:
    """No two options of a command claim the same command-line string: `--NAME`, and
    `--no-NAME` for a flag that defaults to true (argparse's BooleanOptionalAction),
    so a flag `color` (default true) and an option `no-color` are refused."""
    options = cmd.get("options")
    taken: dict[str, str] = {}  # option string -> who claims it
    for j, opt in enumerate(options if isinstance(options, list) else []):
        if not isinstance(opt, dict) or not isinstance(opt.get("name"), str):
            continue
        where = (*path, "options", j)
        claims = {f"--{opt['name']}": field_name(where)}
        if opt.get("type") == "flag" and opt.get("default") is True:
            claims[f"--no-{opt['name']}"] = f"{field_name(where)} (a flag that defaults to true " \
                                            f"also takes --no-{opt['name']})"
        for string, who in claims.items():
            if string in taken:
                c.add((*where, "name"), f"'{string}' is claimed twice: by {taken[string]} and {who}")
            else:
                taken[string] = who
