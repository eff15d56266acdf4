"""Sentinel secrets in specs, prompts and model output: masked wherever they go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.safety import redact as R
from workbench.safety.redact import (
    SecretFound,
    check_tree,
    redact,
    redact_obj,
    scan_text,
    scan_tree,
)

from .conftest import PEM, SENTINELS


@pytest.mark.parametrize("kind", sorted(SENTINELS))
def test_every_provider_shape_is_masked_with_a_short_prefix(kind):
    secret = SENTINELS[kind]
    if kind == "aws-secret":
        text = f"aws_secret_access_key = {secret}\n"
    else:
        text = f"here is my key: {secret} (please keep it safe)"
    out = redact(text)
    assert secret not in out
    assert "SENTINEL" not in out, out
    assert "…****" in out
    assert out.startswith(text[:10])  # the surrounding text is kept


def test_masked_forms_keep_only_the_known_prefix():
    assert redact(SENTINELS["anthropic"]) == "sk-ant-…****"
    assert redact(SENTINELS["openai"]) == "sk-proj-…****"
    assert redact(SENTINELS["openai-legacy"]) == "sk-…****"
    assert redact(SENTINELS["google"]) == "AIza…****"
    assert redact(SENTINELS["github"]) == "ghp_…****"
    assert redact(SENTINELS["github-pat"]) == "github_pat_…****"
    assert redact(SENTINELS["aws-id"]) == "AKIA…****"
    # redacting twice changes nothing more
    once = redact(" ".join(SENTINELS.values()))
    assert redact(once) == once


def test_pem_private_key_is_masked_whole():
    text = f"config:\n{PEM}done\n"
    out = redact(text)
    assert "sentinel" not in out and "PRIVATE KEY" in out and out.endswith("done\n")


def test_values_of_configured_key_variables_are_masked(monkeypatch):
    """A key of any shape held in *_API_KEY / *_TOKEN / *_SECRET or a model's api_key_env."""
    monkeypatch.setenv("ACME_API_KEY", "plain-looking-value-1234")
    monkeypatch.setenv("DEPLOY_TOKEN", "tok3n-SENTINEL-99")
    monkeypatch.setenv("MY_KEY_VAR", "custom-provider-credential-42")
    monkeypatch.setenv("HARMLESS", "plain-looking-value-000")
    text = (
        "acme plain-looking-value-1234 deploy tok3n-SENTINEL-99 "
        "custom custom-provider-credential-42 ok plain-looking-value-000"
    )
    out = redact(text, ["MY_KEY_VAR"])
    assert "plain-looking-value-1234" not in out
    assert "tok3n-SENTINEL-99" not in out
    assert "custom-provider-credential-42" not in out
    assert "plain-looking-value-000" in out, "unrelated variables are not masked"
    # without the extra list, api_key_env needs registering (the config does this)
    assert "custom-provider-credential-42" in redact(text)
    R.register_key_env("MY_KEY_VAR")
    try:
        assert "custom-provider-credential-42" not in redact(text)
    finally:
        R._registered_env.discard("MY_KEY_VAR")


def test_short_or_trivial_values_are_not_treated_as_secrets(monkeypatch):
    monkeypatch.setenv("FEATURE_TOKEN", "1")
    assert redact("version 1.0 has 1 token") == "version 1.0 has 1 token"


def test_ordinary_code_is_left_alone():
    """No false positives on the code a template generates (a commit must not stop)."""
    code = (
        'api_key = os.environ["OPENAI_API_KEY"]\n'
        "token = get_token()\n"
        "max_tokens = 1024\n"
        "pip install scikit-learn  # sk-learn\n"
        "OPENAI_API_KEY=your-key-here\n"
        "ANTHROPIC_API_KEY=\n"
    )
    assert redact(code) == code
    assert scan_text(code, ".env.example") == []


def test_redact_obj_masks_nested_model_output_and_sensitive_keys():
    record = {
        "model": "anthropic/claude",
        "api_key": "literally-anything-here",
        "api_key_env": "ANTHROPIC_API_KEY",
        "headers": {"Authorization": "Bearer abcdefghijk", "x-api-key": "zzzzzzzzzz"},
        "messages": [
            {"role": "user", "content": f"use {SENTINELS['anthropic']} please"},
            {"role": "assistant", "content": ("files", [f"KEY = '{SENTINELS['openai']}'"])},
        ],
        "usage": {"prompt_tokens": 12, "total_tokens": 40},
    }
    out = redact_obj(record)
    dumped = json.dumps(out, ensure_ascii=False)
    assert "literally-anything-here" not in dumped
    assert "abcdefghijk" not in dumped and "zzzzzzzzzz" not in dumped
    assert "SENTINEL" not in dumped
    assert out["api_key_env"] == "ANTHROPIC_API_KEY", "the variable's name is not a secret"
    assert out["usage"] == {"prompt_tokens": 12, "total_tokens": 40}
    assert record["api_key"] == "literally-anything-here", "the input is not modified"


def test_scan_tree_names_file_and_line_and_skips_git(tmp_path: Path):
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "src" / "cli.py").write_text(f"import os\n\nKEY = 'x'\nAPI = '{SENTINELS['google']}'\n")
    (root / "docs.md").write_text(PEM)
    (root / ".git" / "config").write_text(SENTINELS["github"])  # not part of the tree
    findings = scan_tree(root)
    assert [(f.path, f.line, f.kind) for f in findings] == [
        ("docs.md", 1, "pem-private-key"),
        ("src/cli.py", 4, "google"),
    ]
    assert all("SENTINEL" not in f.masked and "sentinel" not in f.masked for f in findings)
    with pytest.raises(SecretFound) as exc:
        check_tree(root)
    msg = str(exc.value)
    assert exc.value.exit_code == 1
    assert "docs.md line 1" in msg and "nothing was committed" in msg and "1 more" in msg
    assert "sentinel" not in msg.lower()


def test_scan_tree_does_not_follow_symlinks_out_of_the_tree(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keys.txt").write_text(SENTINELS["anthropic"])
    root = tmp_path / "proj"
    root.mkdir()
    (root / "link").symlink_to(outside)
    (root / "keyfile").symlink_to(outside / "keys.txt")
    assert scan_tree(root) == []


def test_sentinel_in_a_spec_prompt_or_model_output_is_masked_in_audit_records(tmp_path):
    """What the store keeps (audit payloads) goes through the redactor."""
    from workbench.store import audit

    assert audit.redactor() is redact, "the store uses the safety redactor"
    for s in SENTINELS.values():
        out = audit.redact_text(f"prompt with aws_secret_access_key={s} inside")
        assert s not in out and "…****" in out


# --- end to end through the CLI -------------------------------------------------


def _assert_nowhere(secret: str, *places: bytes | str) -> None:
    for place in places:
        data = place.encode() if isinstance(place, str) else place
        assert secret.encode() not in data


def _line_with(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_key_pasted_into_a_spec_never_reaches_the_repository_or_the_db(tmp_path, wb_home):
    from .conftest import all_bytes_below, run_wb, spec_text

    key = SENTINELS["anthropic"]
    text = spec_text().replace("## Overview", f"## Overview\n\nUse the key {key} to call the API.")
    spec = tmp_path / "leaky.spec.md"
    spec.write_text(text)
    out = tmp_path / "proj"
    r = run_wb("new", "csv2json", "--spec", str(spec), "--out", str(out), "--yes",
               "--no-monitor", home=wb_home)
    told = r.stdout + r.stderr
    # refused as bad input before anything is stored, naming the spec file and line
    assert r.returncode == 2, told
    assert "sk-ant-…****" in told and f"{spec}:{_line_with(text, key)}:" in told and "Traceback" not in told
    _assert_nowhere(key, told, all_bytes_below(out) if out.exists() else b"",
                    all_bytes_below(wb_home))
    assert not out.exists() or not (out / ".git").exists(), "nothing was committed"


def test_a_key_in_the_request_or_environment_is_masked_everywhere(tmp_path, wb_home):
    """The request (a prompt) carries a key; the env holds a key of no known shape."""
    from .conftest import all_bytes_below, run_wb

    key = SENTINELS["github"]
    env_key = "opaque-provider-credential-7f3a9c"
    out = tmp_path / "proj"
    r = run_wb("new", f"A tool to list repos using token {key} and {env_key}", "--out", str(out),
               "--yes", "--no-monitor", home=wb_home, env_extra={"ACME_API_KEY": env_key})
    told = r.stdout + r.stderr
    assert "Traceback" not in told
    for secret in (key, env_key):
        _assert_nowhere(secret, told, all_bytes_below(wb_home),
                        all_bytes_below(out) if out.exists() else b"")
    if r.returncode == 0:  # the drafter dropped or masked it: the project is clean
        assert scan_tree(out) == []
    else:  # or the commit was stopped, naming file and line with the value masked
        assert r.returncode == 1 and "…****" in told


# --- both directions, as a table (issue 11 §4: detect-secrets plugins, entropy limits) ------


def _jwt() -> str:
    import base64

    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': 'SENTINEL'})}." \
           "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


MUST_CATCH = {
    "gitlab": ("token glpat-SENTINELabcdefghij1234 end", "glpat-…****"),
    "stripe-test": ("key sk_test_SENTINEL4eC39HqLyjWDarjtT1zdp7dc end", "sk_test_…****"),
    "stripe-live": ("key sk_live_SENTINEL4eC39HqLyjWDarjtT1zdp7dcXYZ end", "sk_live_…****"),
    "slack-webhook": ("post to https://hooks.slack.com/services/T00000000/B00000000/SENTINELXXXXXXXX",
                      "https://hooks.slack.com/services/…****"),
    "jwt": (f"Authorization: Bearer {_jwt()}", "Bearer eyJ…****"),
    "url-password": ("clone https://deploy:SENTINELpass123@git.example.com/repo.git",
                     "https://deploy:…****@git.example.com"),
    "npm": ("npm token npm_SENTINELabcdefghijklmnopqrstuvwxyz12 ok", "npm_…****"),
    "npmrc": ("//registry.npmjs.org/:_authToken=SENTINEL-0000-1111-2222-333344445555", "…****"),
    "aws-secret-unlabelled": ("the secret is wJalrXUtnFEMI/K7MDENG/bPxRfiCYSENTINEL12 ok", "…****"),
    "API_KEY": ("export API_KEY=SENTINEL9f8e7d6c5b4a", "API_KEY=SENT…****"),
    "OPENAI_KEY": ("OPENAI_KEY = 'SENTINELq1w2e3r4t5y6'", "OPENAI_KEY = 'SENT…****'"),
    "DB_PASS": ("DB_PASS=SENTINEL2x", "DB_PASS=…****"),
    "json-password": ('{"password": "SENTINEL7hunter"}', '{"password": "…****"}'),
    "pem-in-json": ('{"key": "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAsentinelSENTINEL0'
                    '\\n-----END RSA PRIVATE KEY-----\\n"}', "PRIVATE KEY-----…****"),
    "pem-cut-short": ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCSENTINEL\n",
                      "…****"),
}

MUST_NOT_FLAG = {
    "dna-primers": "default primer AGCTTAGCTAGCTAGCTAGC, reverse ACCATAGCTAGCTAGCTAGC",
    "pem-header-in-prose": "Refuses files that contain -----BEGIN PRIVATE KEY----- headers; "
                           "everything after stays visible.\nThe next line too.",
    "pem-header-then-prose": "mentions -----BEGIN RSA PRIVATE KEY-----\nand more prose on the next line",
    "code": 'api_key = os.environ["OPENAI_API_KEY"]\ntoken = get_token()\nmax_tokens = 1024\n'
            'sort_key = row_key2\ncache_key = "user42"\npassword = getpass()\n',
    "hashes": "commit da39a3ee5e6b4b0d3255bfef95601890afd80709 spec "
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "a 40-character path": "see workbench/lifecycle/engine/StepHandlers1 for it",
    "urls without a password": "https://user@example.com/x http://localhost:8000/a git@github.com:o/r",
    "placeholders": "OPENAI_API_KEY=your-key-here\nDB_PASS=changeme\nAPI_KEY=<your key>\n",
}


@pytest.mark.parametrize("kind", sorted(MUST_CATCH))
def test_shapes_the_old_redactor_missed_are_masked(kind):
    text, masked = MUST_CATCH[kind]
    out = redact(text)
    assert "SENTINEL" not in out and "sentinel" not in out, out
    assert masked in out, out
    assert scan_text(text, "spec.md"), "a spec holding it is refused"
    assert redact(out) == out


@pytest.mark.parametrize("kind", sorted(MUST_NOT_FLAG))
def test_legitimate_text_is_left_alone(kind):
    text = MUST_NOT_FLAG[kind]
    assert redact(text) == text
    assert scan_text(text, "spec.md") == []


def test_a_spec_with_a_dna_primer_default_and_a_pem_mention_is_not_refused():
    from workbench.lifecycle.engine import refuse_secrets
    from workbench.spec import parse_spec, validate

    from .conftest import spec_text

    text = spec_text(summary="summary: Find primers such as ACCATAGCTAGCTAGCTAGC; "
                             "never prints -----BEGIN PRIVATE KEY----- blocks")
    text = text.replace("help: Output format", "help: e.g. AGCTTAGCTAGCTAGCTAGC", 1)
    refuse_secrets(text, "primer.spec.md", ValueError)  # raises nothing
    validate(parse_spec(text), ["python-cli"])
    with pytest.raises(ValueError, match=r"primer.spec.md:\d+: looks like a secret \(gitlab"):
        refuse_secrets(text + "\nglpat-SENTINELabcdefghij1234\n", "primer.spec.md", ValueError)


def test_variables_named_like_keys_in_the_environment_are_masked(monkeypatch):
    monkeypatch.setenv("OPENAI_KEY", "opaque-SENTINEL-value-42")
    monkeypatch.setenv("DB_PASS", "hunter2-SENTINEL")
    monkeypatch.setenv("WB_CONFIG_KEY", "/etc/workbench/key-path")  # a path, not a credential
    out = redact("a opaque-SENTINEL-value-42 b hunter2-SENTINEL c /etc/workbench/key-path")
    assert "SENTINEL" not in out and "/etc/workbench/key-path" in out


def test_redaction_of_100_kb_stays_fast():
    import time

    root = Path(__file__).resolve().parents[2]
    text = "".join(p.read_text() for p in sorted((root / "workbench").rglob("*.py")))[:100_000]
    redact(text)  # the first call imports detect-secrets
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        redact(text)
        runs.append(time.perf_counter() - started)
    assert min(runs) < 0.1, f"{min(runs) * 1000:.1f} ms for 100 KB"


@pytest.mark.parametrize("text", ["key_" * 25_000, "_pat" * 25_000, "token" * 20_000, "SECRET_" * 15_000])
def test_a_text_of_keywords_is_redacted_in_bounded_time(text):
    """100 KB of "key_key_key…" (a hostile reply, a spec) took 40 s: every keyword's name
    backtracked over the whole rest of the text. Linear now (about 0.4 s); 10 s is a bound
    only a quadratic scan misses, even on a loaded machine."""
    import time

    started = time.perf_counter()
    assert redact(text) == text
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize("line", [
    "export GH_PAT=Xk29fj38Dk2mQ0pz7LwE1",
    "ADO_PAT: Xk29fj38Dk2mQ0pz7LwE1",
    "GITLAB_PAT_2=Xk29fj38Dk2mQ0pz7LwE1",
])
def test_personal_access_tokens_assigned_to_a_pat_name_are_masked(line):
    """`GH_PAT=value` (a name no provider pattern knows; the value is no known shape) was
    left whole in a spec, a prompt and the audit: a *_PAT name is a credential's name."""
    assert "Xk29fj38Dk2mQ0pz7LwE1" not in redact(line)
    assert scan_text(line, "docs/spec.md") != []


@pytest.mark.parametrize("line", ["path=/usr/lib/x86_64", "PATTERN=ab12cd34ef", "GH_PATH=/opt/x86_64b",
                                  "my_path = build/x86_64", "patch_level = v2beta3"])
def test_names_that_only_start_like_pat_are_left_alone(line):
    assert redact(line) == line


def test_a_pat_variable_in_the_environment_is_masked(monkeypatch):
    monkeypatch.setenv("GH_PAT", "Qw8e7r6t5y4u3i2o1pLk")
    assert "Qw8e7r6t5y4u3i2o1pLk" not in redact("the log said Qw8e7r6t5y4u3i2o1pLk")
