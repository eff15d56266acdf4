"""The lifecycle engine: gates, persistence, step back and re-run — offline, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import UsageError
from workbench.lifecycle import events as ev
from workbench.lifecycle.engine import Engine, Options
from workbench.lifecycle.steps import STEP_IDS
from workbench.llm.offline import OfflineAgents
from workbench.store import Store

FIXTURE = Path(__file__).parent.parent / "fixtures" / "csv2json.spec.md"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "home" / "workbench.db")
    yield s


def make_engine(store, events=None, **opts):
    sink = events.append if events is not None else ev.ignore
    return Engine(store, OfflineAgents("python-cli"), sink, Options(run_monitor=False, **opts))


def test_offline_run_stops_at_the_spec_gate_and_nothing_after_runs(store, tmp_path):
    events = []
    engine = make_engine(store, events)
    out = tmp_path / "proj"
    sid = engine.start("Convert CSV files to JSON", out)
    outcome = engine.run(sid)
    assert outcome.status == "gate" and outcome.gate == "spec" and outcome.exit_code == 3
    status = engine.status(sid)
    assert [status[s] for s in STEP_IDS[:4]] == ["done"] * 4
    assert status["approval"] == "waiting"
    assert all(status[s] == "pending" for s in STEP_IDS[5:])
    assert not out.exists()
    # events: every step started and done, then the gate
    kinds = [(e.kind, e.step) for e in events if e.kind != ev.TOKEN]
    assert ("step_done", "spec") in kinds and kinds[-1] == ("gate", "approval")
    assert any(e.kind == ev.TOKEN and e.step == "spec" for e in events)
    # running again without approval stays at the gate
    assert engine.run(sid).status == "gate"
    assert engine.status(sid)["implementation"] == "pending"


def test_approval_is_for_one_exact_spec_version(store, tmp_path):
    engine = make_engine(store)
    sid = engine.start("Convert CSV files to JSON", tmp_path / "proj")
    gate = engine.run(sid)
    with pytest.raises(UsageError, match="not the current spec"):
        engine.approve(sid, "spec", "0" * 64)
    engine.approve(sid, "spec", gate.sha256)
    # an edit after approval invalidates it: the gate closes again
    spec = engine.current_spec(sid)
    edited = spec["text"].replace("## Requirements", "## Requirements\n\n- Print JSON to stdout.")
    engine.save_spec_edit(sid, edited)
    again = engine.run(sid)
    assert again.status == "gate" and again.gate == "spec" and again.sha256 != gate.sha256
    assert engine.status(sid)["implementation"] == "pending"
    engine.approve(sid, "spec", again.sha256)
    nxt = engine.run(sid)
    assert nxt.status == "gate" and nxt.gate == "plan"
    assert nxt.data["files"] > 5
    assert not (tmp_path / "proj").exists(), "nothing reaches disk before the apply gate"


def test_session_survives_a_restart_and_finishes(store, tmp_path):
    spec_text = FIXTURE.read_text("utf-8")
    engine = make_engine(store)
    out = tmp_path / "csv2json"
    sid = engine.start("csv2json", out, spec_text=spec_text)
    gate = engine.run(sid)
    assert gate.gate == "spec"
    engine.approve(sid, "spec", gate.sha256)
    # a new process: a new Store and Engine on the same database
    store2 = Store(store.path)
    engine2 = make_engine(store2)
    plan_gate = engine2.run(sid)
    assert plan_gate.gate == "plan"
    engine2.approve(sid, "plan", plan_gate.sha256)
    done = engine2.run(sid)
    assert done.status == "done", done.message
    assert (out / "pyproject.toml").is_file()
    assert (out / "docs" / "spec.md").read_bytes() == FIXTURE.read_bytes()
    from workbench.integrate.git import log

    subjects = log(out)
    assert subjects[-1].startswith("Scaffold csv2json")
    assert "Add CI configuration" in subjects and "Add devcontainer" in subjects
    assert (out / ".circleci" / "config.yml").is_file()  # the spec asks for CircleCI
    assert (out / ".workbench" / "manifest.json").is_file()


def test_step_back_and_rerun_keep_versions(store, tmp_path):
    engine = make_engine(store)
    sid = engine.start("Convert CSV files to JSON", tmp_path / "proj")
    engine.run(sid)
    first = store.get_output(sid, "analysis", "analysis")
    engine.step_back(sid, "analysis")
    assert engine.status(sid)["analysis"] == "pending"
    assert engine.status(sid)["spec"] == "pending"
    out = engine.rerun(sid, "spec")
    assert out.status == "paused" and engine.status(sid)["spec"] == "done"
    assert engine.status(sid)["review"] == "pending"
    assert store.get_output(sid, "analysis", "analysis") == first
    versions = store.list_spec_versions(sid)
    assert len(versions) == 2  # re-running the draft made a new version, the old one stays
    with pytest.raises(UsageError, match="unknown step"):
        engine.step_back(sid, "nope")


def test_invalid_spec_fails_the_review_with_a_located_message(store, tmp_path):
    bad = FIXTURE.read_text("utf-8").replace("default: json", "default: xml")
    engine = make_engine(store)
    sid = engine.start("csv2json", tmp_path / "p", spec_text=bad)
    outcome = engine.run(sid)
    assert outcome.status == "failed" and outcome.step == "review"
    assert "spec.md:25: commands[0].options[2].default" in outcome.message
    assert engine.status(sid)["approval"] == "pending"
