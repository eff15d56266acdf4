r"""Jinja2 filters that turn spec strings into safe data in each target language.

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
- `md_text`: inline Markdown text that renders as exactly the spec's words (`<z>`,
  `*`, `_`, `|`, `&`, a trailing backslash ... escaped; a line break becomes a
  space), also safe in a table cell. `md_code`: a code span of exactly the text.
- `roff`: text for a man page line (backslashes, leading dots and quotes, hyphens).
- `zsh_desc`: a description inside a zsh `_arguments` spec (`[`, `]`, `:`, `\`).
- `fish`: a fish single-quoted word.
- `license_text(name)`: the full text of the SPDX licence expression, the
  copyright line filled in for "the NAME authors" (`workbench.spec.licences`).
- `action`: `owner/repo@<sha> # vX.Y.Z` for a GitHub Action, from
  `templates/actions.toml` (pinned by commit, the version in a comment).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
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


# What can start inline markup (GitHub's too: `~` strikethrough, `$` maths, `&` entities).
_MD_ESCAPE = frozenset("\\`*_[]<>|~&$")
# What starts a block at the beginning of a line: a heading, list, quote or rule.
_MD_LINE_START = re.compile(r"^(\s*)(?:(\d+)([.)])|([#+=-]))")


def md_text(value: Any) -> str:
    """Inline Markdown for `value`: every character that could start markup is
    backslash-escaped (CommonMark escapes any ASCII punctuation), so `<z>` stays
    text, a trailing backslash is no hard break, and `|` cannot split a table cell."""
    text = " ".join(str(value).splitlines())
    out = "".join("\\" + ch if ch in _MD_ESCAPE else ch for ch in text)
    def block(m: re.Match) -> str:
        if m.group(4):
            return m.group(1) + "\\" + m.group(4)
        return m.group(1) + m.group(2) + "\\" + m.group(3)

    return _MD_LINE_START.sub(block, out, count=1)


def md_code(value: Any) -> str:
    """A Markdown code span showing exactly `value` (one line)."""
    text = " ".join(str(value).splitlines())
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) or not text else ""
    # A code span cannot hold "|" in a GitHub table cell; escape it there too.
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def roff(value: Any) -> str:
    """Text for one line of a man page: no request, no escape, no line break."""
    text = " ".join(str(value).splitlines())
    text = text.replace("\\", "\\e").replace("-", "\\-")
    # Non-ASCII as \[uXXXX] (groff without preconv and mandoc both read it).
    text = "".join(ch if ord(ch) < 128 else f"\\[u{ord(ch):04X}]" for ch in text)
    if text.startswith((".", "'", " ")):
        text = "\\&" + text
    return text


def zsh_desc(value: Any) -> str:
    """A description inside `'--opt[DESC]'` of a zsh `_arguments` spec; the caller
    puts the spec in single quotes, so `'` is closed, escaped and reopened."""
    text = " ".join(str(value).splitlines())
    for ch in "\\[]:":
        text = text.replace(ch, "\\" + ch)
    return text.replace("'", "'\\''")


def fish(value: Any) -> str:
    """A fish single-quoted word (only \\ and ' are special inside)."""
    text = " ".join(str(value).splitlines())
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def license_text(value: Any, name: Any) -> str:
    from workbench.spec.licences import license_text as text_of

    try:
        return text_of(str(value), f"the {name} authors")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@lru_cache(maxsize=1)
def _actions() -> dict[str, dict]:
    import tomllib

    from workbench.paths import templates_dir

    path = templates_dir() / "actions.toml"
    return tomllib.loads(path.read_text("utf-8"))["actions"]


def action(value: Any) -> str:
    """`owner/repo@sha # version` for a GitHub Action listed in templates/actions.toml."""
    pin = _actions().get(str(value))
    if pin is None:
        raise UsageError(f"templates/actions.toml has no pin for the action {value!r}")
    return f"{value}@{pin['sha']} # {pin['version']}"


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
    "md_text": md_text,
    "md_code": md_code,
    "roff": roff,
    "zsh_desc": zsh_desc,
    "fish": fish,
    "license_text": license_text,
    "action": action,
}
