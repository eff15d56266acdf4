"""The variables a template sees, built from a spec's front matter.

Everything here is data: the templates decide how it looks in each language and
quote it with the filters in `filters.py`.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from workbench.spec import Spec

#: Package names that would shadow something a generated project imports.
_SHADOWED = frozenset(sys.stdlib_module_names) | {
    "pytest", "setuptools", "pip", "src", "tests", "test", "docs", "build", "dist", "site",
}
_SIMPLE_CHOICE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")

#: CPython versions a python-cli project is tested on (requires-python is ">=3.11").
PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.14")
#: The devcontainer's Python. Its image (mcr.microsoft.com/devcontainers/python:1-X.Y)
#: is published up to 1-3.13; 3.14 exists only under the image's newer major versions.
DEVCONTAINER_PYTHON = "3.13"

SAMPLES = {"str": "sample text", "int": "7", "float": "2.5", "path": "sample.txt"}
#: A second value, for a repeatable option or a variadic argument.
SAMPLES2 = {"str": "more text", "int": "-3", "float": "-.5e1", "path": "-"}
BAD_VALUE = "not-a-number"
#: The number rule of both templates (a comment in cli.py and bin/NAME says it, and the
#: generated tests check these cases): an int is ^[+-]?[0-9]+$, a float is
#: ^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$ -- ASCII digits, no nan, inf,
#: underscores or spaces.
INT_RE = r"^[+-]?[0-9]+$"
FLOAT_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
NUMBERS = {
    "int_good": ["0", "7", "-3", "+12", "007", "12345678901234567890"],
    "int_bad": ["", " 7", "7 ", "1_000", "1.0", "1e3", "0x1f", "--1", "nan", "٣", "+"],
    "float_good": ["0", "2.5", "-.5", "+1.", "1e3", "1E-3", ".5e+1", "-7"],
    "float_bad": ["", " 2.5", "1_000.5", "nan", "inf", "-Infinity", "1e", ".", "e3", "1.2.3", "0x1p3"],
}
#: The note a path's help carries: "-" is standard input or output.
STDIO_NOTE = "(- for standard input/output)"


def package_name(name: str) -> str:
    """The import name of a project: `my-tool` -> `my_tool`; `json` -> `json_cli`."""
    from workbench.spec import ident

    pkg = ident(name)
    if pkg in _SHADOWED or pkg.rstrip("_") in _SHADOWED:
        pkg = pkg.rstrip("_") + "_cli"
    return pkg


def _sample(param: dict, second: bool = False) -> str:
    if param["type"] == "choice":
        choices = param["choices"]
        default = param.get("default")
        others = [c for c in choices if c != default] or choices
        return others[0 if second and len(others) > 1 else -1]
    return (SAMPLES2 if second else SAMPLES)[param["type"]]


def _bad_choice(choices: list[str]) -> str:
    bad = "not-a-choice"
    while bad in choices:
        bad += "-really"
    return bad


def _param(raw: dict, positional: bool) -> dict[str, Any]:
    p = dict(raw)
    typ = p["type"]
    name = p["name"]
    p["var"] = name.replace("-", "_")  # a shell variable suffix / Python-safe word
    p["flag"] = typ == "flag"
    p["choices"] = list(p.get("choices") or [])
    if typ == "float" and isinstance(p.get("default"), int) and not isinstance(p["default"], bool):
        p["default"] = float(p["default"])
    p["nargs"] = p.get("nargs") if positional else None
    p["multiple"] = bool(p.get("multiple")) and not positional
    p["short"] = None if positional or not p.get("short") else f"-{p['short']}"
    # A list-valued parameter: a repeatable option or a variadic argument.
    p["list"] = p["multiple"] or p["nargs"] in ("*", "+")
    if positional:
        p["default"] = None
        p["option"] = None
        p["negated"] = None
        p["required"] = p["nargs"] in (None, "+")
    else:
        p["option"] = f"--{name}"
        p["negated"] = f"--no-{name}" if typ == "flag" and p["default"] else None
        p["required"] = bool(p.get("required"))
    p["option_strings"] = [s for s in (p["short"], p["option"], p["negated"]) if s]
    simple = typ == "choice" and all(_SIMPLE_CHOICE.fullmatch(c) for c in p["choices"])
    if positional:
        # A positional keeps its name, in the usage and in every error about it.
        p["metavar"] = name
    else:
        p["metavar"] = "{" + ",".join(p["choices"]) + "}" if simple else name.upper().replace("-", "_")
    # How argparse names the parameter in an error: "-o/--output", or the metavar.
    p["display"] = "/".join(p["option_strings"][:2]) if not positional else p["metavar"]
    # The help as shown: the spec's text exactly, then what the metavar cannot show.
    notes = []
    if typ == "choice" and (positional or not simple):
        notes.append("(choose from " + ", ".join(p["choices"]) + ")")
    if typ == "path":
        notes.append(STDIO_NOTE)
    if p["required"] and not positional:
        notes.append("(required)")
    if p["multiple"]:
        notes.append("(repeatable)")
    if not positional and typ != "flag" and p.get("default") is not None:
        notes.append(f"(default: {p['default']})")
    if p["negated"]:
        notes.append("(default: on)")
    p["help_display"] = " ".join([p["help"], *notes]) if p["help"] else " ".join(notes)
    # argparse %-formats help texts: double every %.
    p["argparse_help"] = p["help_display"].replace("%", "%%")
    p["sample"] = None if typ == "flag" else _sample(p)
    p["sample2"] = _sample(p, second=True) if p["list"] else None
    p["bad"] = _bad_choice(p["choices"]) if typ == "choice" else (
        BAD_VALUE if typ in ("int", "float") else None
    )
    if p["bad"] is None:
        p["error"] = None
    elif typ == "choice":
        p["error"] = f"invalid choice: '{p['bad']}' (choose from {', '.join(p['choices'])})"
    else:
        p["error"] = f"invalid {typ} value: '{p['bad']}'"
    # The usage of this parameter, as argparse writes it.
    if positional:
        m = p["metavar"]
        p["usage"] = {None: m, "?": f"[{m}]", "*": f"[{m} ...]", "+": f"{m} [{m} ...]"}[p["nargs"]]
    elif p["flag"]:
        p["usage"] = "[" + " | ".join(p["option_strings"]) + "]" if p["negated"] else f"[{p['option_strings'][0]}]"
    else:
        part = f"{p['option_strings'][0]} {p['metavar']}"
        p["usage"] = part if p["required"] else f"[{part}]"
    return p


def _typed(p: dict, text: str) -> Any:
    if p["type"] == "int":
        return int(text)
    if p["type"] == "float":
        return float(text)
    return text


def _values(p: dict, texts: list[str]) -> Any:
    """What a parameter given `texts` parses to."""
    if p["list"]:
        return [_typed(p, t) for t in texts]
    return _typed(p, texts[0]) if texts else None


def _words(p: dict, value: Any, texts: dict[str, list[str]]) -> list[str]:
    """The words bash passes for a parameter: a flag as true/false, a list as its count
    and items, a value not given as the empty word."""
    if p["flag"]:
        return ["true" if value else "false"]
    given = texts.get(p["ident"])
    if p["list"]:
        items = given if given is not None else []
        return [str(len(items)), *items]
    if given:
        return [given[0]]
    return ["" if value is None else str(value)]


def _option_argv(o: dict, value: str | None = None, short: bool = False) -> list[str]:
    """An option on the command line: `--name=value`, `-n value`, or the flag."""
    if o["flag"]:
        return [o["negated"] or (o["short"] if short and o["short"] else o["option"])]
    value = o["sample"] if value is None else value
    return [o["short"], value] if short and o["short"] else [f"{o['option']}={value}"]


def _positionals(args: list[dict], upto: int, texts: dict[int, str] | None = None) -> list[str]:
    """Values for the first `upto` positionals: one sample each, `texts` by index."""
    return [(texts or {}).get(i, a["sample"]) for i, a in enumerate(args[:upto])]


def _command(raw: dict, prog: str) -> dict[str, Any]:
    c = dict(raw)
    c["var"] = c["name"].replace("-", "_")
    c["func"] = "run_" + c["var"]
    args = c["arguments"] = [_param(a, True) for a in raw.get("arguments", [])]
    opts = c["options"] = [_param(o, False) for o in raw.get("options", [])]
    c["params"] = args + opts
    c["prog"] = f"{prog} {c['name']}"
    required_opts = [o for o in opts if o["required"]]
    n_required = sum(1 for a in args if a["required"])  # a prefix (the validator sees to it)
    # The full argv sets every option (a short one by its letter, a repeatable one
    # twice) and every positional (a variadic one twice); the minimal argv only the
    # required ones. "--" goes before the positionals when one looks like an option.
    full_opts: list[str] = []
    full: dict[str, Any] = {}
    mins: dict[str, Any] = {}
    full_texts: dict[str, list[str]] = {}  # the texts given, where they are not the values'
    min_texts: dict[str, list[str]] = {}
    for o in opts:
        full_opts += _option_argv(o, short=True)
        if o["multiple"]:
            full_opts += _option_argv(o, o["sample2"])
        if o["flag"]:
            full[o["ident"]], mins[o["ident"]] = not o["default"], bool(o["default"])
        else:
            given = [o["sample"], o["sample2"]] if o["multiple"] else [o["sample"]]
            full[o["ident"]] = _values(o, given)
            full_texts[o["ident"]] = given
            mins[o["ident"]] = _values(o, [o["sample"]]) if o["required"] else (
                [] if o["multiple"] else o["default"])
            if o["required"]:
                min_texts[o["ident"]] = [o["sample"]]
    pos_full: list[str] = []
    for a in args:
        given = [a["sample"], a["sample2"]] if a["list"] else [a["sample"]]
        pos_full += given
        full[a["ident"]] = _values(a, given)
        full_texts[a["ident"]] = given
        mins[a["ident"]] = _values(a, [a["sample"]] if a["required"] else [])
        min_texts[a["ident"]] = [a["sample"]] if a["required"] else []
    pos_min = _positionals(args, n_required)
    sep = ["--"] if any(s.startswith("-") for s in pos_full) else []
    min_opts = [x for o in required_opts for x in _option_argv(o)]
    c["argv_full"] = [c["name"], *full_opts, *sep, *pos_full]
    c["argv_min"] = [c["name"], *min_opts, *sep, *pos_min]
    c["full_values"] = full
    c["min_values"] = mins
    # What cmd_<command> receives (bash), one word each: the same values as text.
    c["bash_full"] = [w for p in c["params"] for w in _words(p, full[p["ident"]], full_texts)]
    c["bash_min"] = [w for p in c["params"] for w in _words(p, mins[p["ident"]], min_texts)]
    c["path_idents"] = [p["ident"] for p in c["params"] if p["type"] == "path"]
    # One argv per bad int/float/choice value, built from the minimal argv so that the
    # tests grow linearly with the options: (argv, parameter, value, error text).
    bad = []
    for o in opts:
        if o["bad"] is not None:
            others = [x for r in required_opts if r is not o for x in _option_argv(r)]
            argv = [c["name"], *others, *_option_argv(o, o["bad"]), *sep, *pos_min]
            bad.append((argv, o["display"], o["bad"], f"argument {o['display']}: {o['error']}"))
    for i, a in enumerate(args):
        if a["bad"] is not None:
            pos = _positionals(args, max(i + 1, n_required), {i: a["bad"]})
            bad.append(([c["name"], *min_opts, *sep, *pos], a["display"], a["bad"],
                        f"argument {a['display']}: {a['error']}"))
    c["bad_argvs"] = bad
    # Per path parameter: the minimal argv with "-" for it (standard input or output),
    # its destination, what that parses to, and where bash passes its words (_words).
    dash = []
    for i, p in enumerate(c["params"]):
        if p["type"] != "path":
            continue
        texts = {**min_texts, p["ident"]: ["-"]}
        if p["option"]:
            others = [x for r in required_opts if r is not p for x in _option_argv(r)]
            argv = [c["name"], *others, *_option_argv(p, "-", short=True), *sep, *pos_min]
        else:
            argv = [c["name"], *min_opts, *sep, *_positionals(args, max(i + 1, n_required), {i: "-"})]
            for a in args[n_required:i]:
                texts[a["ident"]] = [a["sample"]]
        values = {**mins, **{k: _values(q, texts[k]) for q in c["params"] for k in [q["ident"]]
                             if k in texts and not q["flag"]}}
        # Where its words are in what cmd_<command> receives (after the count of all).
        at = 1 + sum(len(_words(q, values[q["ident"]], texts)) for q in c["params"][:i])
        dash.append((argv, p["ident"], values[p["ident"]], at, _words(p, values[p["ident"]], texts)))
    c["dash_argvs"] = dash
    # What a bare command (no arguments) must report missing, as argparse words it.
    missing = [a["display"] for a in args if a["required"]] + [o["display"] for o in required_opts]
    c["required_message"] = (
        "the following arguments are required: " + ", ".join(missing) if missing else None
    )
    unknown = "--not-an-option"
    names = {o["option"] for o in opts}
    while unknown in names:
        unknown += "-really"
    c["unknown_option"] = unknown
    # Usage line and help rows for templates that format their own help (bash).
    c["usage"] = " ".join([f"usage: {c['prog']} [-h]", *(p["usage"] for p in opts + args)])
    rows_args = [(a["metavar"], a["help_display"]) for a in args]
    rows_opts = [("-h, --help", "show this help message and exit")]
    for o in opts:
        left = ", ".join(o["option_strings"])
        rows_opts.append((left if o["flag"] else f"{left} {o['metavar']}", o["help_display"]))
    width = max(len(left) for left, _ in rows_args + rows_opts)
    c["help_lines"] = [f"{c['usage']}", "", c["summary"]]
    if rows_args:
        c["help_lines"] += ["", "arguments:"] + [_row(left, r, width) for left, r in rows_args]
    c["help_lines"] += ["", "options:"] + [_row(left, r, width) for left, r in rows_opts]
    # How cmd_<command> receives the values (bash): a scalar as one positional
    # parameter; a list as its count N, then its N items. Positions are fixed up to the
    # first list; after it they are counted from there.
    doc, pos, after_list = [], 1, False
    for p in c["params"]:
        what = p["option"] if p["option"] else p["name"]
        kind = "flag" if p["flag"] else p["type"]
        if p["list"]:
            kind += ", a count N then N values"
        where = "then" if after_list else (f"${pos}" if pos < 10 else f"${{{pos}}}")
        doc.append((where, what, kind, p["help"]))
        after_list = after_list or p["list"]
        pos += 1
    c["bash_params_doc"] = doc
    return c


def _row(left: str, right: str, width: int) -> str:
    if not right:
        return f"  {left}"
    return f"  {left.ljust(width)}  {right}"


def build_context(spec: Spec, template_id: str) -> dict[str, Any]:
    data = spec.data
    name = data["name"]
    commands = [_command(c, name) for c in data["commands"]]
    width = max(len(c["name"]) for c in commands)
    top_usage = f"usage: {name} [-h] [--version] COMMAND ..."
    help_lines = [top_usage, "", data["summary"], "", "commands:"]
    help_lines += [_row(c["name"], c["summary"], width) for c in commands]
    help_lines += [
        "",
        "options:",
        _row("-h, --help", "show this help message and exit", len("-h, --help")),
        _row("--version", "show the version and exit", len("-h, --help")),
        "",
        f"Run '{name} COMMAND --help' for the arguments and options of a command.",
    ]
    types = {p["type"] for c in commands for p in c["params"]}
    return {
        "spec": data,
        "template": template_id,
        "name": name,
        "package": package_name(name),
        "summary": data["summary"],
        "version": str(data["version"]),
        "license": str(data["license"]),
        "dependencies": list(data.get("dependencies") or []),
        "integrations": data["integrations"],
        "commands": commands,
        "uses_types": sorted(types),
        "bad_values": [b for c in commands for b in c["bad_argvs"]],
        "dash_values": [(c["name"], *d) for c in commands for d in c["dash_argvs"]],
        "required_messages": {c["name"]: c["required_message"] for c in commands if c["required_message"]},
        "numbers": NUMBERS,
        "int_re": INT_RE,
        "float_re": FLOAT_RE,
        "with_arguments": [c for c in commands if c["arguments"]],
        "usage": top_usage,
        "help_lines": help_lines,
        # docs/spec.md is the approved spec byte for byte (a BOM included), so its
        # sha256 is the one recorded at approval and in .workbench/manifest.json.
        "spec_text": spec.exact_text,
        # The CI matrix: every supported CPython from the pyproject's requires-python
        # (>=3.11) up; its last is the version the lint and release jobs use.
        "python_versions": list(PYTHON_VERSIONS),
        "devcontainer_python": DEVCONTAINER_PYTHON,
    }
