"""A second attack pass on the trust issue: the variations the first round left open.

Each test is an attack that got through before its fix, tried the way an attacker would:
the real `python -m workbench` in a subprocess with a private WORKBENCH_HOME, over the
loopback model server where a model answers, on a pseudo-terminal where a terminal
is attacked.
- a reply the provider stopped at its output limit (finish_reason length, max_tokens,
  MAX_TOKENS) was approved as a whole spec on all three wire formats;
- `audit export` to a terminal sent a request's escape sequences raw (OSC 52 writes the
  clipboard, OSC 0 sets the title, CSI 2J clears the screen);
- a YAML key given twice was read as the last one, not what a reviewer sees first;
- sandboxed code left a read-only folder holding a symlink to a host file: Python's
  TemporaryDirectory cleanup before 3.11.8 chmods the symlink's target (CVE-2023-6597);
- an HTTP Authorization header, a Twilio key and a Discord webhook went unmasked.
"""

from __future__ import annotations

import os
import re
import select
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.loopback import DEFAULT_SPEC, LoopbackLLM, Reply, lifecycle_responder

from .conftest import FIXTURE_SPEC, clean_env, run_wb, spec_text

PROVIDERS = {"openai": ("gpt", "openai/gpt-4o"), "anthropic": ("claude", "anthropic/claude-sonnet-4-5"),
             "gemini": ("gemini", "gemini/gemini-2.5-pro")}
KEYS = {"OPENAI_API_KEY": "sk-SENTINEL-openai-0123456789abcdef",
        "ANTHROPIC_API_KEY": "sk-ant-SENTINEL-anthropic-0123456789",
        "GEMINI_API_KEY": "AIzaSENTINELgemini0123456789abcdefgh"}


def _config(home: Path, srv: LoopbackLLM) -> None:
    lines = ["[workbench]", 'default_model = "gpt"', "timeout = 20"]
    for provider, (alias, model) in PROVIDERS.items():
        lines += [f"[models.{alias}]", f'model = "{model}"', f'api_base = "{srv.api_base(provider)}"']
    (home / "config.toml").write_text("\n".join(lines) + "\n")


# -- a reply stopped at the output limit is not a whole reply -------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_spec_stopped_at_the_output_limit_is_never_approved(provider, wb_home, tmp_path):
    fenced = f"```markdown\n{DEFAULT_SPEC}```\n"
    cut = fenced[: fenced.index("prints valid JSON.") + len("prints val")]  # the last criterion, mid-word
    base = lifecycle_responder()
    with LoopbackLLM(lambda req: Reply(text=cut, finish="length") if req.step == "spec" else base(req)) as srv:
        _config(wb_home, srv)
        out = tmp_path / "out"
        r = run_wb("new", "Convert CSV files to JSON", "--out", str(out), "--model", PROVIDERS[provider][0],
                   "--yes", home=wb_home, env_extra=KEYS, timeout=120)
        assert len(srv.requests_for(step="spec")) == 2  # asked once more, then a clear failure
    assert r.returncode == 1, r.stdout + r.stderr
    assert "output limit" in r.stderr and "nothing applied" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


# -- audit export on a terminal --------------------------------------------------------------

HOSTILE_REQUEST = ("csv \x1b]52;c;cHduZWQ=\x07 \x1b]0;TITLE\x07 \x1b[2J \u202e rev \x9b31m "
                   "=HYPERLINK(\"http://x\")")
RAW = {"OSC 52": b"\x1b]52", "OSC 0": b"\x1b]0;", "CSI 2J": b"\x1b[2J", "C1 CSI": "\x9b".encode(),
       "RLO": "\u202e".encode()}


def _on_a_terminal(*args: str, home: Path) -> tuple[int, bytes]:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=clean_env(home), close_fds=True)
    os.close(slave)
    out = b""
    try:
        while select.select([master], [], [], 60)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            out += data
    finally:
        os.close(master)
    return proc.wait(timeout=60), out


def test_audit_export_on_a_terminal_shows_escape_sequences_and_never_obeys_them(wb_home, tmp_path):
    r = run_wb("new", HOSTILE_REQUEST, "--out", str(tmp_path / "out"), "--spec", str(FIXTURE_SPEC),
               home=wb_home, timeout=120)
    assert r.returncode == 3, r.stderr
    for fmt in ("csv", "jsonl"):
        code, out = _on_a_terminal("audit", "export", "--format", fmt, home=wb_home)
        assert code == 0, out[-500:]
        assert [k for k, raw in RAW.items() if raw in out] == [], fmt
        assert b"HYPERLINK" in out  # the data is there, made visible
    # piped or to a file it stays exact data (the formula cell still neutralised)
    piped = run_wb("audit", "export", "--format", "csv", home=wb_home)
    assert "\x1b]52" in piped.stdout and "'=HYPERLINK" not in piped.stdout


# -- a key given twice -----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["top level", "flow mapping"])
def test_a_key_given_twice_is_refused_naming_it(where, wb_home, tmp_path):
    if where == "top level":  # a reviewer reads MIT; a YAML reader keeps the last
        text = spec_text(license="license: MIT\nlicense: GPL-3.0-only")
        field = "license"
    else:
        text = spec_text().replace("        choices: [json, ndjson]\n",
                                   "        choices: [json, ndjson]\n        when: {unix: json, unix: ndjson}\n")
        field = "commands[0].options[2].when.unix"
    assert text != spec_text()
    spec = tmp_path / "spec.md"
    spec.write_text(text)
    r = run_wb("validate", str(spec), home=wb_home)
    assert r.returncode == 2
    assert re.search(rf"spec.md:\d+: {re.escape(field)}: given twice", r.stdout + r.stderr)
    r = run_wb("new", "x", "--out", str(tmp_path / "out"), "--spec", str(spec), "--yes", home=wb_home)
    assert r.returncode == 2 and "given twice" in r.stderr and not (tmp_path / "out").exists()


# -- sandboxed code leaves a read-only folder with a symlink to a host file ------------------


def test_folders_sandboxed_code_left_read_only_are_reopened_and_the_host_file_keeps_its_mode(tmp_path):
    from workbench.safety import sandbox

    if not sandbox.sandbox_available():
        pytest.skip(sandbox.sandbox_status()[1])
    victim = tmp_path / "host-file"
    victim.write_text("the user's own file")
    victim.chmod(0o600)
    with tempfile.TemporaryDirectory(prefix=sandbox.temp_prefix("workbench-tests")) as d:
        code = ("import pathlib\n"
                "for name in ('ro', 'ro/deeper', 'none'):\n"
                "    pathlib.Path(name).mkdir()\n"
                f"pathlib.Path('ro/deeper/link').symlink_to({str(victim)!r})\n"
                "pathlib.Path('ro/deeper').chmod(0o500)\n"
                "pathlib.Path('ro').chmod(0o500)\n"
                "pathlib.Path('none').chmod(0)\n")
        res = sandbox.run([sys.executable, "-c", code], Path(d), timeout=60)
        assert res.exit_code == 0, res.output
        for sub in ("ro", "ro/deeper", "none"):
            assert stat.S_IMODE(os.lstat(Path(d, sub)).st_mode) & 0o700 == 0o700, sub
        assert Path(d, "ro/deeper/link").is_symlink()
    assert not Path(d).exists()
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600


# -- secrets the first round did not know ----------------------------------------------------

SECRETS = {
    "basic auth header": "Authorization: Basic dXNlcjpTM2NyZXRQYXNzd29yZA==",
    "bearer header": "curl -H 'Authorization: Bearer SENTINEL0123456789abcdef0123456789'",
    "twilio api key": "SK" + "0123456789abcdef0123456789abcdef",
    "twilio account sid": "AC" + "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
    "discord webhook": "https://discord.com/api/webhooks/123456789012345678/" + "SENTINELx" * 8,
}
NOT_SECRETS = ["Reads the Authorization header and prints it", "authorization: bearer",
               "ACknowledgementsforthecontributorsxx", "SKIPPED tests are listed",
               "posts to discord.com/api/webhooks/ID/TOKEN"]


@pytest.mark.parametrize("kind", SECRETS)
def test_a_spec_with_another_kind_of_secret_is_refused_and_never_stored(kind, wb_home, tmp_path):
    secret = SECRETS[kind]
    spec = tmp_path / "spec.md"
    spec.write_text(spec_text(summary=f'summary: "Converts CSV, {secret}"'))
    r = run_wb("new", f"a tool, {secret}", "--out", str(tmp_path / "out"), "--spec", str(spec), "--yes",
               home=wb_home)
    assert r.returncode == 2 and "looks like a secret" in r.stderr, r.stderr
    tail = secret[-12:].encode()
    assert all(tail not in f.read_bytes() for f in wb_home.glob("workbench.db*"))
    assert not (tmp_path / "out").exists()


def test_texts_that_only_look_like_those_secrets_are_kept():
    from workbench.safety.redact import redact

    assert [redact(t) for t in NOT_SECRETS] == NOT_SECRETS


def test_a_wide_spec_within_the_per_command_caps_is_refused_by_the_total(tmp_path):
    """100 commands x 100 options passed every cap and then timed out the tests step after
    5.5 minutes; the whole spec's parameters are capped, with the count and the limit named."""
    from workbench.spec import SpecError, parse_spec
    from workbench.spec.model import MAX_PARAMETERS

    def spec(commands: int, options: int) -> str:
        cmds = "".join(
            f"  - name: c{i}\n    summary: s\n    options:\n"
            + "".join(f"      - name: o{j}\n        type: str\n        help: h\n" for j in range(options))
            for i in range(commands))
        return f"---\nname: wide\nsummary: s\ntemplate: python-cli\ncommands:\n{cmds}---\n# wide\n"

    with pytest.raises(SpecError, match=f"the limit is {MAX_PARAMETERS:,} for a whole spec"):
        parse_spec(spec(100, 100))
    parse_spec(spec(3, 167))  # 501 options: a real wide tool still fits


def test_generated_code_sees_an_allow_list_of_the_environment(tmp_path, monkeypatch):
    """A token in a variable no secret pattern knows (GH_PAT, SENTRY_DSN) never reaches
    sandboxed code, so no test output can carry it into a repair prompt."""
    from workbench.safety import sandbox

    if not sandbox.sandbox_available():
        pytest.skip("bubblewrap cannot sandbox here")
    monkeypatch.setenv("GH_PAT", "ghp-like-value-0123456789")
    monkeypatch.setenv("SENTRY_DSN", "https://abc@o1.ingest.sentry.io/1")
    monkeypatch.setenv("CONTAINER_NAME", "host-container")
    res = sandbox.run(["env"], tmp_path, timeout=30, env={"WB_CHECK": "1"})
    assert res.exit_code == 0, res.output
    seen = dict(line.split("=", 1) for line in res.output.splitlines() if "=" in line)
    assert "GH_PAT" not in seen and "SENTRY_DSN" not in seen and "CONTAINER_NAME" not in seen
    assert seen.get("WB_CHECK") == "1" and "PATH" in seen and seen["HOME"] != str(Path.home())
