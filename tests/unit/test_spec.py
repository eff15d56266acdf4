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
    assert suggest_name("Convert CSV files to JSON") == "csv-files"
