"""Review findings the developer applies or dismisses (design: the `review` step).

Offline, the engine's own agents; a model's revision is in tests/llm/test_findings_model.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import UsageError
from workbench.lifecycle import events as ev
from workbench.lifecycle.engine import Engine, Options, finding_id
from workbench.llm.base import Finding
from workbench.llm.offline import TO_FILL_IN, OfflineAgents
from workbench.spec import parse_spec
from workbench.store import Store

SPEC = """---
name: greet
summary: Greet people
template: python-cli
commands:
  - name: hello
    summary: Say hello   # the one command
    arguments:
      - name: who
        type: str
    options:
      - name: loud
        type: flag
        help: ""
      - name: times
        type: int
        default: 1
        help: How many times
---
# greet

## Overview

Says hello.

## Requirements

- `greet hello NAME` prints `Hello, NAME!`.
"""


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "home" / "workbench.db")


def at_gate(store, tmp_path, text=SPEC, agents=None):
    engine = Engine(store, agents or OfflineAgents("python-cli"), ev.ignore, Options(run_monitor=False))
    sid = engine.start("greet people", tmp_path / "out", spec_text=text)
    assert engine.run(sid).status == "gate"
    return engine, sid


def test_findings_are_numbered_with_stable_ids_and_open(store, tmp_path):
    engine, sid = at_gate(store, tmp_path)
    found = engine.findings(sid)
    assert [f["n"] for f in found] == [1, 2, 3]
    assert [f["location"] for f in found] == ["commands[0].arguments[0]", "commands[0].options[0]", "body"]
    assert all(f["status"] == "open" for f in found)
    assert found[0]["id"] == finding_id(found[0]) and len({f["id"] for f in found}) == 3


def test_applying_structural_findings_offline_keeps_every_other_byte(store, tmp_path):
    engine, sid = at_gate(store, tmp_path)
    v1 = store.get_spec_version(sid)
    done = engine.apply_finding(sid, 1)
    assert done["status"] == "applied" and done["spec_version"] == 2
    done = engine.apply_finding(sid, "3")
    text = store.get_spec_version(sid)["text"]
    added = [line for line in text.splitlines() if line not in v1["text"].splitlines()]
    assert added == ['        help: "(To fill in: what who is)"', "## Acceptance criteria",
                     f"- {TO_FILL_IN} acceptance criteria.)"]
    assert "    summary: Say hello   # the one command" in text  # comments kept
    spec = parse_spec(text)
    assert spec.data["commands"][0]["arguments"][0]["help"].startswith(TO_FILL_IN)
    # the spec changed: the review must run again, and nothing after it stands
    status = engine.status(sid)
    assert status["review"] == status["approval"] == "pending"
    versions = store._dicts("SELECT version, source, actor FROM spec_versions WHERE session_id = ?", (sid,))
    assert [(v["source"], v["actor"]) for v in versions][1:] == [("finding", "agent:tool_builder")] * 2
    applied = store.list_events(session=sid, action="finding_applied", limit=10)
    assert len(applied) == 2 and all(e["actor"].startswith("human:") for e in applied)
    # the decisions are shown, then the next review judges the new spec afresh
    assert [f["status"] for f in engine.findings(sid)] == ["applied", "open", "applied"]
    assert engine.run(sid).status == "gate"
    after = engine.findings(sid)
    assert [f["text"] for f in after] == [
        "'who' has a placeholder for its help text.", "'loud' has no help text; users will see an "
        "empty description.", "The body has placeholders to fill in."]
    assert all(f["status"] == "open" for f in after)


def test_help_that_is_there_but_empty_is_filled_in_place(store, tmp_path):
    engine, sid = at_gate(store, tmp_path)
    before = store.get_spec_version(sid)["text"].splitlines()
    engine.apply_finding(sid, 2)
    after = store.get_spec_version(sid)["text"].splitlines()
    assert len(after) == len(before)
    assert [a for a, b in zip(after, before) if a != b] == ['        help: "(To fill in: what loud is)"']


def test_a_finding_offline_cannot_write_is_refused_and_nothing_changes(store, tmp_path):
    engine = Engine(store, OfflineAgents("python-cli"), ev.ignore, Options(run_monitor=False))
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out")
    engine.run(sid)
    [placeholder] = engine.findings(sid)
    assert "placeholder drafted offline" in placeholder["text"]
    versions = len(store._dicts("SELECT version FROM spec_versions WHERE session_id = ?", (sid,)))
    with pytest.raises(UsageError, match="offline model applies only structural fixes"):
        engine.apply_finding(sid, 1)
    assert len(store._dicts("SELECT version FROM spec_versions WHERE session_id = ?", (sid,))) == versions
    assert engine.findings(sid)[0]["status"] == "open"
    assert engine.status(sid)["approval"] == "waiting"
    assert store.list_events(session=sid, action="finding_applied", limit=5) == []


def test_a_dismissal_is_recorded_and_holds_in_later_reviews(store, tmp_path):
    engine, sid = at_gate(store, tmp_path)
    secret = "sk-" + "d" * 40
    os.environ["WB_TEST_FINDINGS_KEY"] = secret
    try:
        gone = engine.dismiss_finding(sid, 1, reason=f"positional, obvious (not {secret})")
    finally:
        del os.environ["WB_TEST_FINDINGS_KEY"]
    assert gone["status"] == "dismissed" and secret not in gone["reason"]
    [event] = store.list_events(session=sid, action="finding_dismissed", limit=5)
    assert "dismissed finding 1" in event["summary"] and secret not in str(event)
    with pytest.raises(UsageError, match="already dismissed"):
        engine.dismiss_finding(sid, 1)
    # an unrelated edit, a new review: the same finding comes back dismissed
    text = store.get_spec_version(sid)["text"].replace("Says hello.", "Says hello, politely.")
    engine.save_spec_edit(sid, text)
    assert engine.run(sid).status == "gate"
    assert [f["status"] for f in engine.findings(sid)] == ["dismissed", "open", "open"]


def test_bad_references_and_late_decisions_are_refused(store, tmp_path):
    engine, sid = at_gate(store, tmp_path)
    with pytest.raises(UsageError, match=r"no finding '9': the session has 3 findings \(1-3\)"):
        engine.dismiss_finding(sid, 9)
    with pytest.raises(UsageError, match="no finding 'zz'"):
        engine.apply_finding(sid, "zz")
    fid = engine.findings(sid)[1]["id"]
    assert engine.dismiss_finding(sid, fid[:6])["n"] == 2  # an id prefix works too
    engine.approve(sid, "spec", store.get_spec_version(sid)["sha256"])
    with pytest.raises(UsageError, match="the spec is approved"):
        engine.apply_finding(sid, 1)


class Stubborn(OfflineAgents):
    """Applies any finding by touching the overview; its reviewer keeps raising it."""

    def review(self, ctx, spec_text):
        return [Finding("warning", "body", "Say what happens with no NAME.", "Describe it.")]

    def apply_finding(self, ctx, spec_text, finding):
        return spec_text.replace("Says hello.", "Says hello (revised).")


def test_a_finding_raised_again_after_it_was_applied_is_open_again(store, tmp_path):
    engine, sid = at_gate(store, tmp_path, agents=Stubborn("python-cli"))
    engine.apply_finding(sid, 1)
    assert engine.findings(sid)[0]["status"] == "applied"  # until the review runs again
    engine.run(sid)
    assert engine.findings(sid)[0]["status"] == "open"


def wb(*args, home: Path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["WORKBENCH_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_the_findings_command(tmp_path):
    home = tmp_path / "home"
    spec = tmp_path / "greet.spec.md"
    spec.write_text(SPEC)
    r = wb("new", "greet", "--spec", str(spec), "--out", str(tmp_path / "out"), home=home)
    assert r.returncode == 3
    assert "1. warning  commands[0].arguments[0]: 'who' has no help text" in r.stdout
    sid = r.stdout.split()[1][:12]
    assert f"workbench findings {sid} --apply N | --dismiss N --reason TEXT" in r.stdout
    r = wb("findings", sid, "--dismiss", "2", "--reason", "a flag says it all", home=home)
    assert r.returncode == 0 and "[dismissed: a flag says it all]" in r.stdout
    r = wb("findings", sid, "--apply", "1", "3", home=home)
    assert r.returncode == 0, r.stderr
    assert "-> spec v2" in r.stdout and "-> spec v3" in r.stdout and f"workbench resume {sid}" in r.stdout
    r = wb("findings", sid, home=home)
    assert r.stdout.splitlines()[1].endswith("[dismissed: a flag says it all]")
    assert "[applied]" in r.stdout.splitlines()[0]
    for bad, message in ((["--apply", "7"], "no finding '7'"), (["--dismiss", "2"], "already dismissed"),
                         (["--apply", "1", "--dismiss", "1"], "both applied and dismissed")):
        r = wb("findings", sid, *bad, home=home)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    r = wb("show", sid, "findings", home=home)
    assert r.returncode == 0 and "[dismissed: a flag says it all]" in r.stdout
    r = wb("resume", sid, home=home)
    assert r.returncode == 3 and "'who' has a placeholder for its help text" in r.stdout
