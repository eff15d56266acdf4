"""The spec: parsing, round trip, hashing and every validation error, located."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from workbench.spec import SpecError, load_spec, parse_spec, validate, validation_errors, write_spec

FIXTURE = Path(__file__).parent.parent / "fixtures" / "csv2json.spec.md"
TEMPLATES = ["python-cli", "bash-cli"]


def base_text() -> str:
    return FIXTURE.read_text("utf-8")


def errors_for(text: str, templates=TEMPLATES) -> list[SpecError]:
    return validation_errors(parse_spec(text, "spec.md"), templates)


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_design_example_is_valid_and_has_defaults():
    spec = load_spec(FIXTURE)
    validate(spec, TEMPLATES)
    data = spec.data
    assert spec.name == "csv2json" and spec.template == "python-cli"
    assert data["version"] == "0.1.0" and data["license"] == "MIT"
    opts = {o["name"]: o for o in data["commands"][0]["options"]}
    assert opts["dry-run"]["default"] is False and opts["dry-run"]["ident"] == "dry_run"
    assert data["integrations"] == {"github_actions": True, "circleci": True, "devcontainer": True}
    assert "## Overview" in spec.body


def test_round_trip_is_byte_exact_and_hash_identifies_the_version(tmp_path):
    raw = FIXTURE.read_bytes() + "# ünïcödé 🎉 and CRLF\r\n".encode()
    src = tmp_path / "in.md"
    src.write_bytes(raw)
    spec = load_spec(src)
    out = tmp_path / "out.md"
    write_spec(spec, out)
    assert out.read_bytes() == raw
    assert spec.sha256 == hashlib.sha256(raw).hexdigest()
    assert parse_spec(raw + b"\n").sha256 != spec.sha256


def test_hostile_strings_are_data():
    text = base_text().replace(
        "help: Spaces of indentation",
        "help: \"It's 100% {{ weird }} {% raw %} \\\\ ünï\"",
    )
    spec = parse_spec(text)
    validate(spec, TEMPLATES)
    opt = spec.data["commands"][0]["options"][0]
    assert opt["help"] == "It's 100% {{ weird }} {% raw %} \\ ünï"


@pytest.mark.parametrize(
    "old, new, field, needle, message",
    [
        ("name: csv2json", "name: ../x", "name", "name: ../x", "kebab-case"),
        ("name: csv2json", "name: /etc/x", "name", "name: /etc/x", "kebab-case"),
        ("name: csv2json", "name: CSV2JSON", "name", "name: CSV2JSON", "kebab-case"),
        ("name: csv2json", "name: a", "name", "name: a", "2-40"),
        ("template: python-cli", "template: rust-cli", "template", "template: rust-cli",
         "available: bash-cli, python-cli"),
        ("type: int", "type: integer", "commands[0].options[0].type", "type: integer", "unknown type"),
        ("default: json", "default: xml", "commands[0].options[2].default", "default: xml",
         "not among the choices"),
        ("  - name: dry-run", "  - name: indent", "commands[0].options[1].name", "name: indent\n",
         "duplicate"),
        ("name: convert", "name: Convert_It", "commands[0].name", "name: Convert_It", "kebab-case"),
        ("version: 0.1.0", "version: 1.0", "version", "version: 1.0", "version string"),
        ("integrations:", "integrations:\n  gitlab: true", "integrations.gitlab", "gitlab: true",
         "unknown integration"),
    ],
)
def test_each_error_names_file_line_and_field(old, new, field, needle, message):
    text = base_text().replace(old, new, 1)
    errs = errors_for(text)
    assert errs, "expected a validation error"
    match = [e for e in errs if e.field == field]
    assert match, [str(e) for e in errs]
    err = match[0]
    expected_line = line_of(text, needle.rstrip("\n")) if not needle.endswith("\n") else _line_exact(text, needle)
    assert err.line == expected_line, str(err)
    assert message in err.detail
    assert str(err).startswith(f"spec.md:{expected_line}: {field}: ")


def _line_exact(text: str, needle: str) -> int:
    lines = text.splitlines()
    hits = [i for i, ln in enumerate(lines, 1) if ln.strip() == "- " + needle.strip()]
    return hits[-1]


def test_duplicate_command_names():
    text = base_text().replace(
        "dependencies: []",
        "  - name: convert\n    summary: again\ndependencies: []",
    )
    errs = errors_for(text)
    assert any(e.field == "commands[1].name" and "duplicate command" in e.detail for e in errs)


@pytest.mark.parametrize("missing", ["name", "summary", "template", "commands"])
def test_missing_required_fields(missing):
    lines = base_text().splitlines(keepends=True)
    start = [i for i, ln in enumerate(lines) if ln.startswith(f"{missing}:")][0]
    end = start + 1
    while end < len(lines) and lines[end].startswith((" ", "-")) and missing == "commands":
        end += 1
    text = "".join(lines[:start] + lines[end:])
    errs = errors_for(text)
    assert any(e.field == missing and "missing" in e.detail for e in errs), [str(e) for e in errs]


def test_invalid_yaml_names_its_line():
    text = "---\nname: csv2json\nsummary: [unclosed\ntemplate: python-cli\n---\n"
    with pytest.raises(SpecError) as exc:
        parse_spec(text, "my.md")
    assert exc.value.file == "my.md"
    assert exc.value.line in (3, 4)
    assert "invalid YAML" in str(exc.value)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\xff\xfe\x00binary", "NUL"),
        (b"---\nname: caf\xe9\n---\n", "UTF-8"),
        (b"# no front matter\n", "must start with"),
        (b"---\nname: x\n", "not closed"),
        (b"---\n- a list\n---\n", "mapping"),
    ],
)
def test_bad_files(tmp_path, raw, message):
    f = tmp_path / "spec.md"
    f.write_bytes(raw)
    with pytest.raises(SpecError) as exc:
        load_spec(f)
    assert message in str(exc.value)
    assert str(f) in str(exc.value)


def test_missing_and_huge_files(tmp_path):
    from workbench.errors import UsageError

    with pytest.raises(UsageError, match="no such file"):
        load_spec(tmp_path / "nope.md")
    big = tmp_path / "big.md"
    big.write_bytes(b"---\nname: x\n---\n" + b"a" * 10_000_000)
    with pytest.raises(SpecError, match="too large"):
        load_spec(big)


def test_unknown_fields_are_reported():
    text = base_text().replace("license: MIT", "license: MIT\ncomands: []")
    errs = errors_for(text)
    assert any(e.field == "comands" and "unknown field" in e.detail for e in errs)


def test_offline_draft_is_valid():
    from workbench.llm.offline import draft_spec_text, suggest_name

    for request in ["Convert CSV files to JSON", "a tool", "??", "Ünïcode «quotes» 'and' {{ braces }} 100%",
                    "x" * 500]:
        spec = parse_spec(draft_spec_text(request))
        validate(spec, TEMPLATES)
        assert request.strip()[:20] in spec.body or len(request) > 100
    assert suggest_name("Convert CSV files to JSON") == "csv-converter"


@pytest.mark.parametrize("request_text, name, command", [
    ("Find duplicate photos by hashing their contents", "duplicate-finder", "find"),
    ("Count words in text files", "word-counter", "count"),
    ("Resize photos in their folder", "photo-resizer", "resize"),
    ("Split big files into chunks", "file-splitter", "split"),
    ("I want to count lines of code", "line-counter", "count"),
    ("Validate JSON schemas", "json-validator", "validate"),
    ("hello", "hello", "run"),
    ("", "my-tool", "run"),
])
def test_offline_names_tools_from_their_object_noun(request_text, name, command):
    """Named as people name tools (object noun + agent noun), never 'finds-duplicate' or 'words-text'."""
    from workbench.llm.offline import suggest_command, suggest_name

    assert suggest_name(request_text) == name
    assert suggest_command(request_text) == command


def test_offline_summaries_are_written_not_copied():
    from workbench.llm.offline import draft_spec_text, suggest_summaries

    tool, command = suggest_summaries("Count words in text files")
    assert (tool, command) == ("Counts words in text files", "Count words in INPUT")
    spec = parse_spec(draft_spec_text("Find duplicate photos by hashing their contents"))
    assert spec.data["summary"] != "Find duplicate photos by hashing their contents"
    assert spec.data["commands"][0]["summary"] == "Find duplicate photos in INPUT"
    validate(spec, TEMPLATES)


# -- interface fields: short, required, multiple, nargs -----------------------------------

DESIGN_EXAMPLE_FIELDS = base_text().replace(
    "        help: CSV file to read\n",
    '        help: CSV file to read\n        nargs: "?"\n',
).replace(
    "        help: Output format\n",
    "        help: Output format\n"
    "      - name: output\n        short: o\n        type: path\n        required: true\n"
    "        help: Where to write the JSON\n"
    "      - name: tag\n        type: str\n        multiple: true\n        help: A tag\n",
)


def test_the_design_examples_interface_fields_are_valid():
    spec = parse_spec(DESIGN_EXAMPLE_FIELDS)
    validate(spec, TEMPLATES)
    cmd = spec.data["commands"][0]
    assert cmd["arguments"][0]["nargs"] == "?"
    opts = {o["name"]: o for o in cmd["options"]}
    assert opts["output"]["short"] == "o" and opts["output"]["required"] is True
    assert opts["tag"]["multiple"] is True


def _with(option_lines: str = "", argument_lines: str = "") -> str:
    """The design example with lines added to its first argument and its `format` option."""
    text = DESIGN_EXAMPLE_FIELDS
    if argument_lines:
        text = text.replace('        nargs: "?"\n', argument_lines, 1)
    if option_lines:
        text = text.replace("        help: Output format\n", "        help: Output format\n" + option_lines, 1)
    return text


@pytest.mark.parametrize(
    "text, field, needle, message",
    [
        (_with("        short: oo\n"), "commands[0].options[2].short", "short: oo", "one ASCII letter"),
        (_with("        short: 1\n"), "commands[0].options[2].short", "short: 1", "one ASCII letter"),
        (_with("        short: é\n"), "commands[0].options[2].short", "short: é", "one ASCII letter"),
        (_with("        short: h\n"), "commands[0].options[2].short", "short: h", "reserved for --help"),
        (_with("        short: o\n"), "commands[0].options[3].short", "short: o#2",
         "duplicate short option '-o' (also commands[0].options[2])"),
        (_with("        required: yes please\n"), "commands[0].options[2].required", "required: yes please",
         "true or false"),
        (_with("        required: true\n"), "commands[0].options[2].default", "default: json",
         "a required option takes no default"),
        (_with("        multiple: true\n"), "commands[0].options[2].default", "default: json",
         "a multiple option takes no default"),
        (_with("        nargs: '*'\n"), "commands[0].options[2].nargs", "nargs: '*'", "only applies to arguments"),
        (_with(argument_lines="        nargs: 2\n"), "commands[0].arguments[0].nargs", "nargs: 2",
         '"?" (optional), "*" (any number) or "+"'),
        (_with(argument_lines="        short: i\n"), "commands[0].arguments[0].short", "short: i",
         "only applies to options"),
        (_with(argument_lines="        required: false\n"), "commands[0].arguments[0].required",
         "required: false", "use nargs"),
        (_with(argument_lines="        multiple: true\n"), "commands[0].arguments[0].multiple",
         "multiple: true", "not multiple"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "",
)
def test_interface_field_errors_name_line_and_field(text, field, needle, message):
    errs = errors_for(text)
    match = [e for e in errs if e.field == field]
    assert match, [str(e) for e in errs]
    needle, _, nth = needle.partition("#")
    hits = [i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == needle]
    assert match[0].line == hits[int(nth or 1) - 1], str(match[0])
    assert message in match[0].detail, str(match[0])


def test_flags_are_neither_required_nor_multiple():
    text = base_text().replace("        help: Show what would be written\n",
                               "        help: Show what would be written\n        required: true\n"
                               "        multiple: true\n")
    errs = {e.field: e.detail for e in errors_for(text)}
    assert "a flag cannot be required" in errs["commands[0].options[1].required"]
    assert "a flag cannot be multiple" in errs["commands[0].options[1].multiple"]


ARGS_HEAD = ("---\nname: order\nsummary: s\ntemplate: python-cli\ncommands:\n"
             "  - name: run\n    summary: s\n    arguments:\n")


def _args(*nargs) -> str:
    lines = [ARGS_HEAD]
    for i, n in enumerate(nargs):
        lines.append(f"      - name: a{i}\n")
        if n is not None:
            lines.append(f"        nargs: '{n}'\n")
    return "".join(lines) + "---\n"


@pytest.mark.parametrize("nargs", [
    (None, "?"), (None, "*"), (None, "+"), (None, None, "?", "?"), ("?", "*"), ("?", "?"), ("*",), ("+",),
])
def test_positional_orders_a_parser_can_read(nargs):
    assert errors_for(_args(*nargs)) == []


@pytest.mark.parametrize("nargs, bad, message", [
    (("*", None), 1, "must be the last"),
    (("+", "?"), 1, "must be the last"),
    (("?", None), 1, "cannot follow the optional commands[0].arguments[0]"),
    (("*", "+"), 1, "must be the last"),
    ((None, "?", "+"), 2, "cannot follow the optional commands[0].arguments[1]"),
])
def test_positional_orders_a_parser_cannot_read(nargs, bad, message):
    errs = errors_for(_args(*nargs))
    assert [e.field for e in errs] == [f"commands[0].arguments[{bad}]"], [str(e) for e in errs]
    assert message in errs[0].detail
    assert errs[0].line == _args(*nargs).splitlines().index(f"      - name: a{bad}") + 1


def test_every_interface_error_is_reported_at_once():
    text = _with("        short: h\n        required: maybe\n", argument_lines="        nargs: 7\n        short: i\n")
    fields = [e.field for e in errors_for(text)]
    for f in ("commands[0].arguments[0].nargs", "commands[0].arguments[0].short",
              "commands[0].options[2].short", "commands[0].options[2].required"):
        assert f in fields, fields
    lines = [e.line for e in errors_for(text)]
    assert lines == sorted(lines)
