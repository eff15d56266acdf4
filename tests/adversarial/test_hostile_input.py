"""Hostile input (issue 11 §4): specs built to exhaust, crash or mislead, files that are
not files, a damaged database, text that attacks the terminal or a spreadsheet.

Each refusal is one line naming what and where, the documented exit code, and no
traceback. Every test here failed on the code before these fixes.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import yaml

import workbench.spec.model as spec_model
from workbench.errors import UsageError
from workbench.spec import SpecError, load_spec, parse_spec, validation_errors

from .conftest import FIXTURE_SPEC, run_wb

BASE = FIXTURE_SPEC.read_text(encoding="utf-8")


def _spec(*replacements: tuple[str, str]) -> str:
    text = BASE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def _errors(text: str) -> list[str]:
    return [str(e) for e in validation_errors(parse_spec(text), ["python-cli", "bash-cli"])]


def _refused(text: str) -> str:
    with pytest.raises(SpecError) as exc:
        parse_spec(text)
    msg = str(exc.value)
    assert "\n" not in msg and exc.value.exit_code == 2
    return msg


def _commands(n: int, options: int = 1) -> str:
    opts = "".join(f"      - name: opt{k}\n        type: int\n        help: An option\n"
                   for k in range(options))
    cmds = "".join(f"  - name: cmd{i}\n    summary: Do thing {i}\n    options:\n{opts}"
                   for i in range(n))
    return f"---\nname: many\nsummary: Many commands\ntemplate: python-cli\ncommands:\n{cmds}---\n"


# --- YAML built to exhaust or crash the parser ------------------------------------


def test_an_alias_bomb_is_refused_at_once_naming_the_line():
    bomb = ["---", "name: bomb", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, prev in zip("bcdefghi", "abcdefgh"):
        bomb.append(f"{i}: &{i} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    msg = _refused("\n".join(bomb) + "\n---\n")
    assert time.perf_counter() - started < 1
    assert msg.startswith("spec.md:3:") and "anchor" in msg


def test_a_single_alias_is_refused_the_format_needs_none():
    text = _spec(("summary: Convert CSV files to JSON", "summary: &s Convert CSV files to JSON"))
    assert "anchors (&s) are not allowed" in _refused(text)
    text = "---\nname: x\nsummary: *s\n---\n"
    msg = _refused(text)
    assert msg.startswith("spec.md:3:") and "aliases (*s) are not allowed" in msg


def test_five_hundred_nested_brackets_are_refused_not_a_recursion_error():
    msg = _refused("---\nname: x\ncommands: " + "[" * 500 + "]" * 500 + "\n---\n")
    assert "nested too deeply" in msg and msg.startswith("spec.md:3:")
    msg = _refused("---\nname: x\ncommands: " + "{a: " * 300 + "1" + "}" * 300 + "\n---\n")
    assert "nested too deeply" in msg


@pytest.mark.parametrize("literal", ["1" * 5000, "0x" + "f" * 5000, "!!int '" + "7" * 5000 + "'",
                                     "-" + "9" * 4301], ids=["decimal", "hex", "tagged", "negative"])
def test_an_integer_of_thousands_of_digits_is_refused(literal):
    msg = _refused(_spec(("default: 2", f"default: {literal}")))
    assert "commands[0].options[0].default" in msg and "too large" in msg


def test_a_long_quoted_number_is_just_a_string():
    text = _spec(("type: int\n        default: 2", "type: str\n        default: '" + "1" * 5000 + "'"))
    assert _errors(text) == []


def test_many_values_are_refused_by_count(monkeypatch):
    monkeypatch.setattr(spec_model, "MAX_YAML_NODES", 1000)
    msg = _refused("---\nname: x\nlist: [" + ",".join(["1"] * 2000) + "]\n---\n")
    assert "too many YAML values (more than 1,000)" in msg


# --- strings a generated project or a terminal must never see -----------------------


@pytest.mark.parametrize("loader", ["libyaml", "python"])
def test_a_lone_surrogate_is_refused_naming_the_field(monkeypatch, loader):
    if loader == "python":  # the pure-Python parser accepts the escape: validation refuses it
        monkeypatch.setattr(spec_model, "_Loader", yaml.SafeLoader)
    text = _spec(("summary: Convert CSV files to JSON", 'summary: "Convert \\ud800 CSV"'))
    try:
        errors = _errors(text)
    except SpecError as exc:  # libyaml refuses the escape itself
        errors = [str(exc)]
    assert len(errors) == 1 and errors[0].startswith("spec.md:3:"), errors
    assert loader == "libyaml" or "summary: contains a lone surrogate (U+D800)" in errors[0]


def test_a_lone_surrogate_in_an_editor_buffer_or_model_reply_is_a_spec_error():
    text = _spec(("## Overview", "## Overview\n\nbroken \ud83d text"))
    msg = _refused(text)
    line = text.splitlines().index("broken \ud83d text") + 1
    assert "lone surrogate (U+D83D)" in msg and msg.startswith(f"spec.md:{line}:")


@pytest.mark.parametrize("char,kind", [("\u202e", "bidirectional control"),
                                       ("\u2066", "bidirectional control"),
                                       ("\x85", "C1 control"), ("\x9b", "C1 control")],
                         ids=["RLO", "LRI", "NEL", "CSI"])
def test_c1_controls_and_bidi_overrides_are_refused_naming_the_field(char, kind, monkeypatch):
    monkeypatch.setattr(spec_model, "_Loader", yaml.SafeLoader)  # the parser libyaml may not be
    esc = f"\\u{ord(char):04x}"
    errors = _errors(_spec(("help: CSV file to read", f'help: "CSV {esc} file"')))
    assert errors == [f"spec.md:13: commands[0].arguments[0].help: contains a {kind} character "
                      f"(U+{ord(char):04X}); remove it"]
    errors = _errors(_spec(("choices: [json, ndjson]", f'choices: [json, "nd{esc}json"]')))
    assert any("commands[0].options[2].choices[1]" in e for e in errors), errors


@pytest.mark.parametrize("field,old,new", [
    ("name", "name: csv2json ", 'name: "csv2json\\n"'),
    ("version", "version: 0.1.0", 'version: "0.1.0\\n"'),
    ("commands[0].name", "  - name: convert", '  - name: "convert\\n"'),
    ("commands[0].options[0].name", "      - name: indent", '      - name: "indent\\n"'),
])
def test_a_name_or_version_with_a_trailing_newline_is_refused(field, old, new):
    errors = _errors(_spec((old, new)))
    assert any(f": {field}: " in e for e in errors), errors
    assert all("\n" not in e for e in errors)


def test_a_short_option_with_a_trailing_newline_is_refused():
    errors = _errors(_spec(("        type: int\n        default: 2",
                            '        type: int\n        short: "i\\n"\n        default: 2')))
    assert any("commands[0].options[0].short" in e for e in errors), errors


# --- defaults and option strings a parser cannot take ------------------------------


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf", "+.Inf", "1.0e+999"])
def test_a_non_finite_float_default_is_refused(value):
    errors = _errors(_spec(("type: int\n        default: 2", f"type: float\n        default: {value}")))
    assert len(errors) == 1 and "commands[0].options[0].default" in errors[0]
    assert "not a finite number" in errors[0]


def test_an_int_default_beyond_64_bits_is_refused():
    errors = _errors(_spec(("default: 2", "default: 99999999999999999999")))
    assert errors == ["spec.md:17: commands[0].options[0].default: default is out of range "
                      "(a 64-bit integer at most)"]
    assert _errors(_spec(("default: 2", f"default: {2**63 - 1}"))) == []


def test_a_default_true_flag_beside_its_no_option_is_refused():
    text = _spec(("      - name: dry-run\n        type: flag",
                  "      - name: no-color\n        type: str\n        help: x\n"
                  "      - name: color\n        type: flag\n        default: true"))
    errors = _errors(text)
    assert len(errors) == 1, errors
    assert "commands[0].options[2].name: '--no-color' is claimed twice" in errors[0]
    # the same options in the other order, and a default-false flag is fine
    swapped = _spec(("      - name: dry-run\n        type: flag",
                     "      - name: color\n        type: flag\n        default: true\n"
                     "      - name: no-color\n        type: str"))
    assert len(_errors(swapped)) == 1
    plain = _spec(("      - name: dry-run\n        type: flag",
                   "      - name: no-color\n        type: str\n"
                   "      - name: color\n        type: flag"))
    assert _errors(plain) == []


# --- size caps ------------------------------------------------------------------------


def test_five_thousand_commands_are_refused_in_under_a_second():
    text = _commands(5000)
    started = time.perf_counter()
    msg = _refused(text)
    took = time.perf_counter() - started
    assert msg == "spec.md:6: commands: 5,000 commands; the limit is 200"
    assert took < 1.0, f"{took:.2f}s"


def test_two_thousand_options_are_refused_naming_count_and_limit():
    started = time.perf_counter()
    msg = _refused(_commands(1, options=2000))
    assert time.perf_counter() - started < 1.0
    assert msg == "spec.md:9: commands[0].options: 2,000 options; the limit is 200 per command"


def test_specs_at_the_caps_are_accepted():
    assert len(parse_spec(_commands(200)).front["commands"]) == 200
    assert len(parse_spec(_commands(1, options=200)).front["commands"][0]["options"]) == 200


# --- files that are not files -----------------------------------------------------------


@pytest.fixture
def odd_files(tmp_path: Path):
    fifo = tmp_path / "fifo.spec.md"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.spec.md"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    d = tmp_path / "dir.spec.md"
    d.mkdir()
    yield {"fifo": (fifo, "FIFO"), "socket": (sock_path, "socket"), "dir": (d, "directory"),
           "dev-zero": (Path("/dev/zero"), "character device")}
    sock.close()


@pytest.mark.parametrize("which", ["fifo", "socket", "dir", "dev-zero"])
def test_only_regular_files_are_read_as_specs(odd_files, which):
    path, kind = odd_files[which]
    started = time.perf_counter()
    with pytest.raises(UsageError) as exc:
        load_spec(path)
    assert time.perf_counter() - started < 1, "no hang on a FIFO, no endless read of /dev/zero"
    assert exc.value.exit_code == 2
    assert str(exc.value).startswith(f"{path}: is a") and kind in str(exc.value)


def test_a_file_is_read_up_to_the_limit_plus_one_byte(tmp_path, monkeypatch):
    reads = []
    real_read = os.read

    def counting_read(fd, n):
        reads.append(n)
        return real_read(fd, n)

    spec = tmp_path / "big.spec.md"
    spec.write_bytes(BASE.encode() + b"x" * 5000)
    monkeypatch.setattr(spec_model.os, "read", counting_read)
    data = spec_model.read_user_file(spec, limit=len(BASE) + 10_000)
    assert len(data) == len(BASE) + 5000 and max(reads) <= len(BASE) + 10_001
    with pytest.raises(SpecError, match="too large"):
        spec_model.read_user_file(spec, limit=100)


def test_an_empty_spec_path_is_refused():
    with pytest.raises(UsageError, match="empty path"):
        load_spec("")


def test_cli_refuses_dev_zero_and_an_empty_spec_path(tmp_path, wb_home):
    for value, needle in (("/dev/zero", "/dev/zero: is a character device"), ("", "empty path")):
        out = tmp_path / "out"
        started = time.perf_counter()
        r = run_wb("new", "a tool", "--spec", value, "--out", str(out), "--yes", home=wb_home,
                   timeout=60)
        told = r.stderr + r.stdout
        assert r.returncode == 2, told
        assert needle in told and "Traceback" not in told
        assert time.perf_counter() - started < 30 and not out.exists()


# --- terminal and export ------------------------------------------------------------------

HOSTILE_REQUEST = "rename [/] files \x1b]0;pwned\x07\x1b[2J now \u202eevil\u202c [bold]x"


def _seed(home: Path) -> str:
    from workbench.store import Store

    with Store(home / "workbench.db") as store:
        sid = store.create_session(HOSTILE_REQUEST, home / "out[/]", "python-cli")
        store.add_spec_version(sid, "---\nname: x\n---\n# t \x1b[2J\x9b31m\n", None, "file", "human:t")
        store.audit(sid, "human:t", "request", "request", HOSTILE_REQUEST)
        for summary in ("=HYPERLINK(\"http://evil.example\",\"click\")", "+1+2", "-2+3", "@SUM(A1)",
                        "\tpadded", "\rreturn", "plain -text"):
            store.audit(sid, "human:t", "request", "note", summary)
    return sid


def _run_tty(args: list[str], home: Path) -> tuple[int, str]:
    """The CLI with stdout on a pseudo-terminal, as a user sees it."""
    import pty
    import subprocess
    import sys

    from .conftest import ROOT, clean_env

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "workbench", *args], stdout=slave,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env={**clean_env(home), "COLUMNS": "200"}, cwd=ROOT)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace") + err.decode()


def test_sessions_with_markup_in_the_request_does_not_crash(wb_home):
    _seed(wb_home)
    r = run_wb("sessions", home=wb_home, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "rename [/] files" in r.stdout and "Traceback" not in r.stderr
    assert "\x1b]0;" not in r.stdout and "\u202e" not in r.stdout


_RAW = ("\x1b]0;", "\x1b[2J", "\u202e", "\x9b")


def test_audit_list_on_a_terminal_shows_escape_sequences_instead_of_obeying_them(wb_home):
    _seed(wb_home)
    code, shown = _run_tty(["audit", "list"], wb_home)
    assert code == 0, shown
    assert not any(raw in shown for raw in _RAW), repr(shown)
    assert "\\x1b]0;pwned" in shown and "\\u202e" in shown and "rename [/] files" in shown


def test_show_spec_on_a_terminal_escapes_controls_but_a_pipe_gets_the_exact_text(wb_home):
    sid = _seed(wb_home)
    code, shown = _run_tty(["show", sid[:12], "spec"], wb_home)
    assert code == 0, shown
    assert not any(raw in shown for raw in _RAW) and "\\x1b[2J" in shown and "\\x9b31m" in shown
    r = run_wb("show", sid[:12], "spec", home=wb_home, timeout=60)
    assert r.stdout == "---\nname: x\n---\n# t \x1b[2J\x9b31m\n"


def test_csv_export_neutralises_formula_cells(wb_home, tmp_path):
    import csv

    _seed(wb_home)
    out = tmp_path / "audit.csv"
    r = run_wb("audit", "export", "--format", "csv", "--output", str(out), home=wb_home, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    summaries = [row["summary"] for row in rows if row["action"] == "note"]
    assert summaries == ["'=HYPERLINK(\"http://evil.example\",\"click\")", "'+1+2", "'-2+3",
                         "'@SUM(A1)", "'\tpadded", "'\rreturn", "plain -text"]
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row
    # JSON lines stay exact: they are data, not a spreadsheet
    r = run_wb("audit", "export", "--format", "jsonl", home=wb_home, timeout=60)
    assert '"summary":"=HYPERLINK(' in r.stdout


# --- a damaged, read-only or odd database ---------------------------------------------------


def _filled_db(home: Path, events: int = 1500) -> Path:
    import sqlite3

    from workbench.store import Store

    db = home / "workbench.db"
    with Store(db) as store:
        sid = store.create_session("a request", home / "out", "python-cli")
        with store.batch():
            for i in range(events):
                store.audit(sid, "human:t", "request", "note", f"event {i} " + "x" * 200)
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return db


def _garble_middle(db: Path) -> None:
    """Garbage over the header of every page in the middle third of the file."""
    size = db.stat().st_size
    pages = size // 4096
    with open(db, "r+b") as fh:
        for page in range(pages // 3, 2 * pages // 3):
            fh.seek(page * 4096)
            fh.write(b"\xab" * 24)


def test_garbage_in_the_middle_of_the_database_is_damage_not_intact(wb_home, tmp_path):
    db = _filled_db(wb_home)
    _garble_middle(db)
    for args in (("audit", "verify"), ("audit", "list"), ("sessions",),
                 ("new", "a tool", "--out", str(tmp_path / "out"), "--yes")):
        r = run_wb(*args, home=wb_home, timeout=120)
        told = r.stderr + r.stdout
        assert r.returncode == 1, (args, told)
        assert "Traceback" not in told and "intact" not in told
        assert f"database {db} is damaged" in told and "fix:" in told, told
        assert len(r.stderr.strip().splitlines()) == 1, told
    assert not (tmp_path / "out").exists()


def test_a_database_error_after_opening_is_one_line(wb_home, monkeypatch, capsys):
    """Past the size where open runs quick_check, damage found later is still one line."""
    from workbench.cli.main import main
    from workbench.store import db as store_db

    db = _filled_db(wb_home)
    _garble_middle(db)
    monkeypatch.setenv("WORKBENCH_HOME", str(wb_home))
    monkeypatch.setattr(store_db, "QUICK_CHECK_AT_OPEN_BYTES", 0)
    code = main(["audit", "export", "--format", "jsonl"])
    err = capsys.readouterr().err
    assert code == 1 and f"database {db} is damaged" in err and len(err.strip().splitlines()) == 1
    code = main(["audit", "verify"])
    err = capsys.readouterr().err
    assert code == 1 and "audit chain cannot be verified" in err and "damaged" in err


def test_a_negative_schema_version_is_one_clear_line(wb_home):
    import sqlite3

    db = _filled_db(wb_home, events=3)
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = -5")
    con.close()
    before = db.read_bytes()
    r = run_wb("sessions", home=wb_home, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "schema version -5" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == before


@pytest.fixture
def readonly_home(tmp_path: Path):
    """A WORKBENCH_HOME holding a sound database, on a file system mounted read-only."""
    import subprocess

    home = tmp_path / "rohome"
    home.mkdir()
    if os.geteuid() != 0:
        _filled_db(home, events=3)
        home.chmod(0o555)
        yield home
        home.chmod(0o755)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(home)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        _filled_db(home, events=3)
        subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True, capture_output=True)
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False, capture_output=True)


def test_a_read_only_home_is_reported_as_read_only_not_corrupt(readonly_home):
    for args in (("sessions",), ("audit", "verify")):
        r = run_wb(*args, home=readonly_home, timeout=60)
        told = r.stderr + r.stdout
        assert r.returncode == 2, told
        assert "read-only" in told and "corrupt" not in told and "damaged" not in told, told
        assert "Traceback" not in told and len(r.stderr.strip().splitlines()) == 1
