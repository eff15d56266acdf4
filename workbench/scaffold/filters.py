"""Jinja2 filters that turn spec strings into safe data in each target language.

Spec strings are only ever template *variables*, never template source; these
filters make sure a value with quotes, backslashes, `%`, `{{ }}`, `$`, backticks
or non-ASCII text lands in the generated file as exactly that text.

- `py`: a Python literal. Strings come out the way `ruff format` writes them
  (double quotes unless that needs more escapes), so generated code is already
  formatted.
- `py_help`: a Python string literal for an argparse help text, which argparse
  %-formats: every `%` is doubled.
- `py_desc`: a Python string literal for an argparse description, which argparse
  %-formats only when it contains `%(prog)`.
- `sh`: a shell word (single quotes; `'`, `$`, backquote and backslash escaped
  outside them so shellcheck has nothing to say).
- `toml`: a TOML basic string. `yaml`: a YAML double-quoted scalar. `json`: a
  JSON string.
- `comment`: text for a one-line comment (no line breaks, no trailing blanks).
- `md`: Markdown, as written.
"""

from __future__ import annotations

import json
import math
from typing import Any

from workbench.errors import UsageError


def _esc_code(ch: str, *, x_ok: bool) -> str:
    o = ord(ch)
    if o < 0x100 and x_ok:
        return f"\\x{o:02x}"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def py_str(s: str) -> str:
    """A Python string literal for `s`, as ruff format would write it."""
    s = str(s)
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(_esc_code(ch, x_ok=True))
        else:
            out.append(ch)
    body = "".join(out)
    quote = "'" if s.count('"') > s.count("'") else '"'
    body = body.replace(quote, "\\" + quote)
    return f"{quote}{body}{quote}"


def py(value: Any) -> str:
    """A Python literal for a spec value (str, int, float, bool, None, list)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return f'float("{value}")'
        return repr(value)
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(py(v) for v in value) + "]"
    raise TypeError(f"no Python literal for {type(value).__name__}")


def py_help(value: Any) -> str:
    return py_str(str(value).replace("%", "%%"))


def py_desc(value: Any) -> str:
    text = str(value)
    if "%(prog)" in text:
        text = text.replace("%", "%%")
    return py_str(text)


_SH_SPECIAL = {"'": "\\'", "$": "\\$", "`": "\\`", "\\": "\\\\"}


def sh(value: Any) -> str:
    """One shell word that expands to exactly `value`."""
    s = str(value)
    if not s:
        return "''"
    parts: list[str] = []
    run: list[str] = []
    for ch in s:
        if ch in _SH_SPECIAL:
            if run:
                parts.append("'" + "".join(run) + "'")
                run = []
            parts.append(_SH_SPECIAL[ch])
        else:
            run.append(ch)
    if run:
        parts.append("'" + "".join(run) + "'")
    return "".join(parts)


def toml(value: Any) -> str:
    """A TOML basic string."""
    s = str(value)
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch])
        elif 0xD800 <= o <= 0xDFFF:
            raise UsageError(f"text {s!r} contains a lone surrogate, which TOML cannot hold")
        elif not ch.isprintable():
            out.append(_esc_code(ch, x_ok=False))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def yaml(value: Any) -> str:
    """A YAML double-quoted scalar."""
    s = str(value)
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif not ch.isprintable() or ch == "\ufeff":
            out.append(_esc_code(ch, x_ok=True))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def json_str(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def comment(value: Any) -> str:
    """Text for a one-line comment."""
    return " ".join(str(value).splitlines()).rstrip()


def md(value: Any) -> str:
    return str(value)


FILTERS = {
    "py": py,
    "py_help": py_help,
    "py_desc": py_desc,
    "sh": sh,
    "toml": toml,
    "yaml": yaml,
    "json": json_str,
    "comment": comment,
    "md": md,
}
