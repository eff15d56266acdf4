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
BAD_VALUE = "not-a-number"


def package_name(name: str) -> str:
    """The import name of a project: `my-tool` -> `my_tool`; `json` -> `json_cli`."""
    from workbench.spec import ident

    pkg = ident(name)
    if pkg in _SHADOWED or pkg.rstrip("_") in _SHADOWED:
        pkg = pkg.rstrip("_") + "_cli"
    return pkg


def _sample(param: dict) -> str:
    if param["type"] == "choice":
        choices = param["choices"]
        default = param.get("default")
        others = [c for c in choices if c != default]
        return (others or choices)[-1]
    return SAMPLES[param["type"]]


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
    if positional:
        p["default"] = None
        p["option"] = None
        p["negated"] = None
    else:
        p["option"] = f"--{name}"
        p["negated"] = f"--no-{name}" if typ == "flag" and p["default"] else None
    simple = typ == "choice" and all(_SIMPLE_CHOICE.fullmatch(c) for c in p["choices"])
    p["metavar"] = (
        "{" + ",".join(p["choices"]) + "}" if simple else name.upper().replace("-", "_")
    )
    if positional:
        p["metavar"] = "{" + ",".join(p["choices"]) + "}" if simple else name
    # The help as shown: the spec's text exactly, then the choices when the metavar
    # cannot show them, then the default.
    notes = []
    if typ == "choice" and not simple:
        notes.append("(choose from " + ", ".join(repr(ch) for ch in p["choices"]) + ")")
    if not positional and typ != "flag" and p.get("default") is not None:
        notes.append(f"(default: {p['default']})")
    p["help_display"] = " ".join([p["help"], *notes]) if p["help"] else " ".join(notes)
    # argparse %-formats help texts: double every %.
    p["argparse_help"] = p["help_display"].replace("%", "%%")
    p["sample"] = None if typ == "flag" else _sample(p)
    p["bad"] = _bad_choice(p["choices"]) if typ == "choice" else (
        BAD_VALUE if typ in ("int", "float") else None
    )
    return p


def _typed(p: dict, text: str) -> Any:
    if p["type"] == "int":
        return int(text)
    if p["type"] == "float":
        return float(text)
    return text


def _command(raw: dict, prog: str) -> dict[str, Any]:
    c = dict(raw)
    c["var"] = c["name"].replace("-", "_")
    c["func"] = "run_" + c["var"]
    c["arguments"] = [_param(a, True) for a in raw.get("arguments", [])]
    c["options"] = [_param(o, False) for o in raw.get("options", [])]
    c["params"] = c["arguments"] + c["options"]
    c["prog"] = f"{prog} {c['name']}"
    # argv for tests: every option set, then the positionals ("--" first if one looks
    # like an option); and the minimal argv (positionals only).
    opts = []
    for o in c["options"]:
        if o["flag"]:
            opts.append(o["negated"] or o["option"])
        else:
            opts.append(f"{o['option']}={o['sample']}")
    pos = [a["sample"] for a in c["arguments"]]
    sep = ["--"] if any(s.startswith("-") for s in pos) else []
    c["argv_full"] = [c["name"], *opts, *sep, *pos]
    c["argv_min"] = [c["name"], *sep, *pos]
    # What those argvs parse to: typed values by Python identifier.
    full: dict[str, Any] = {}
    mins: dict[str, Any] = {}
    for a in c["arguments"]:
        full[a["ident"]] = mins[a["ident"]] = _typed(a, a["sample"])
    for o in c["options"]:
        if o["flag"]:
            full[o["ident"]] = not o["default"]
            mins[o["ident"]] = bool(o["default"])
        else:
            full[o["ident"]] = _typed(o, o["sample"])
            mins[o["ident"]] = o["default"]
    c["full_values"] = full
    c["min_values"] = mins
    c["path_idents"] = [p["ident"] for p in c["params"] if p["type"] == "path"]
    # One argv per bad int/float/choice value, and the text the error must show.
    bad = []
    for o in c["options"]:
        if o["bad"] is not None:
            argv = [f"{o['option']}={o['bad']}" if x == f"{o['option']}={o['sample']}" else x
                    for x in c["argv_full"][1:]]
            bad.append(([c["name"], *argv], o["option"], o["bad"]))
    for i, a in enumerate(c["arguments"]):
        if a["bad"] is not None:
            new_pos = list(pos)
            new_pos[i] = a["bad"]
            bad.append(([c["name"], *sep, *new_pos], a["metavar"], a["bad"]))
    c["bad_argvs"] = bad
    unknown = "--not-an-option"
    names = {o["option"] for o in c["options"]}
    while unknown in names:
        unknown += "-really"
    c["unknown_option"] = unknown
    # Usage line and help rows for templates that format their own help (bash).
    usage = [f"usage: {c['prog']} [-h]"]
    for o in c["options"]:
        if o["flag"]:
            usage.append(f"[{o['option']}]" if not o["negated"] else f"[{o['option']} | {o['negated']}]")
        else:
            usage.append(f"[{o['option']} {o['metavar']}]")
    usage.extend(a["metavar"] for a in c["arguments"])
    c["usage"] = " ".join(usage)
    rows_args = [(a["metavar"], a["help_display"]) for a in c["arguments"]]
    rows_opts = [("-h, --help", "show this help message and exit")]
    for o in c["options"]:
        left = o["option"] if o["flag"] else f"{o['option']} {o['metavar']}"
        if o["negated"]:
            left = f"{o['option']}, {o['negated']}"
        rows_opts.append((left, o["help_display"]))
    width = max(len(left) for left, _ in rows_args + rows_opts)
    c["help_lines"] = [f"{c['usage']}", "", c["summary"]]
    if rows_args:
        c["help_lines"] += ["", "arguments:"] + [_row(left, r, width) for left, r in rows_args]
    c["help_lines"] += ["", "options:"] + [_row(left, r, width) for left, r in rows_opts]
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
