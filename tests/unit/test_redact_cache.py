"""The redactor's cache of secret values from os.environ: scanned once while the
environment is unchanged, and never stale when a variable is set, changed or removed."""

from __future__ import annotations

import os

import pytest

from workbench.safety import redact as R

VALUE = "plain-value-of-no-known-shape-0123"  # only an env var makes it a secret
OTHER = "another-plain-value-4567"
NAME = "WB_CACHE_PROBE_API_KEY"


@pytest.fixture
def clean(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    monkeypatch.delenv("WB_CACHE_PROBE_PLAIN", raising=False)
    yield monkeypatch
    R._registered_env.discard("WB_CACHE_PROBE_PLAIN")


def test_the_environment_is_scanned_once_while_it_is_unchanged(clean):
    scans = []
    real = R.key_env_names

    def counting(*args, **kwargs):
        scans.append(1)
        return real(*args, **kwargs)

    clean.setattr(R, "key_env_names", counting)
    clean.setenv("WB_CACHE_PROBE_PLAIN", "x")  # a change: the next call scans again
    for _ in range(5):
        assert R.redact("nothing to hide here") == "nothing to hide here"
    assert len(scans) == 1
    clean.setenv(NAME, VALUE)
    assert VALUE not in R.redact(f"it is {VALUE}")
    assert R.redact(f"it is {VALUE}") == R.redact(f"it is {VALUE}")
    assert len(scans) == 2


def test_a_secret_set_changed_or_removed_between_calls_is_seen(clean):
    text = f"the value is {VALUE}."
    assert R.redact(text) == text
    clean.setenv(NAME, VALUE)  # a new variable
    assert VALUE not in R.redact(text)
    assert R.scan_text(text)[0].kind == f"env:{NAME}"
    clean.setenv(NAME, OTHER)  # the same variable, a new value: as many variables as before
    assert R.redact(text) == text
    assert OTHER not in R.redact(f"now {OTHER}")
    os.environ[NAME] = VALUE  # set directly, not through monkeypatch
    assert VALUE not in R.redact(text) and OTHER in R.redact(OTHER)
    clean.delenv(NAME)
    assert R.redact(text) == text
    assert R.secret_values().get(VALUE) is None


def test_registered_and_extra_names_are_part_of_the_cache_key(clean):
    text = f"the value is {VALUE}."
    clean.setenv("WB_CACHE_PROBE_PLAIN", VALUE)  # not a key-like name
    assert R.redact(text) == text
    assert VALUE not in R.redact(text, ["WB_CACHE_PROBE_PLAIN"])
    assert R.redact(text) == text
    R.register_key_env("WB_CACHE_PROBE_PLAIN")
    assert VALUE not in R.redact(text)
    R._registered_env.discard("WB_CACHE_PROBE_PLAIN")
    assert R.redact(text) == text


def test_a_given_environ_is_read_on_every_call(clean):
    env = {NAME: VALUE}
    text = f"the value is {VALUE}."
    assert VALUE not in R.redact(text, environ=env)
    env[NAME] = OTHER
    assert R.redact(text, environ=env) == text
    assert R.redact(text) == text  # os.environ has no such variable


def test_secret_values_returns_a_copy(clean):
    clean.setenv(NAME, VALUE)
    first = R.secret_values()
    first.clear()
    assert R.secret_values()[VALUE] == f"env:{NAME}"
    R.register_secret(OTHER)
    try:
        values = R.secret_values(extra_values=["an-extra-value-given-here"])
        assert values[OTHER] == "registered" and VALUE in values
        assert "an-extra-value-given-here" in values
        lengths = [len(v) for v in values]
        assert lengths == sorted(lengths, reverse=True)
    finally:
        R._registered_values.discard(OTHER)
