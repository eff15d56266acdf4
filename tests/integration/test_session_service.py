"""The session service (one place for the lifecycle's decisions) and `--json`."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import UsageError
from workbench.lifecycle import events as ev
from workbench.lifecycle.engine import Engine
from workbench.lifecycle.session import EngineLike, Policy, SessionService
from workbench.llm.offline import OfflineAgents
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "fixtures" / "csv2json.spec.md"


@pytest.fixture
def service(tmp_path):
    events: list[ev.Event] = []
    store = Store(tmp_path / "wb.db")
    svc = SessionService(store, lambda model, template: OfflineAgents(template), events.append)
    svc.events = events
    yield svc
    svc.close()
    store.close()


def test_find_by_prefix_and_its_errors(service, tmp_path):
    a = service.start("one tool", tmp_path / "a")
    b = service.start("another tool", tmp_path / "b")
    assert service.find(a[:8])["id"] == a
    assert service.find(b.upper()[:10])["id"] == b
    with pytest.raises(UsageError, match="no session matches"):
        service.find("ffffffffffff")
    common = os.path.commonprefix([a, b])
    if common:
        with pytest.raises(UsageError, match="matches 2 sessions"):
            service.find(common)
    with pytest.raises(UsageError, match="give a session id"):
        service.find("  ")


def test_next_action_follows_the_lifecycle(service, tmp_path):
    sid = service.start("Count words in text files", tmp_path / "out")
    assert service.next_action(sid).kind == "run"
    outcome = service.drive(sid)  # the default policy stops at the first gate
    assert outcome.status == "gate" and outcome.gate == "spec"
    nxt = service.next_action(sid)
    assert nxt.kind == "approve" and nxt.gate.gate == "spec" and nxt.gate.sha256 == outcome.sha256
    view = service.view(sid)
    assert view.steps["approval"] == "waiting" and view.spec["sha256"] == outcome.sha256
    assert view.open_findings == 1 and not view.applied


def test_approve_takes_only_the_waiting_hash(service, tmp_path):
    sid = service.start("Count words in text files", tmp_path / "out")
    gate = service.drive(sid)
    with pytest.raises(UsageError, match=f"waiting for approval is {gate.sha256[:12]}"):
        service.approve(sid, "0" * 12)
    with pytest.raises(UsageError):
        service.approve(sid, gate.sha256[:3])  # too short to mean one exact version
    assert service.approve(sid, gate.sha256[:12]).gate == "spec"
    assert any(isinstance(e, ev.Approved) and e.sha256 == gate.sha256 for e in service.events)
    with pytest.raises(UsageError, match="nothing is waiting"):
        service.approve(sid, gate.sha256)


def test_reject_goes_back_and_says_so(service, tmp_path):
    sid = service.start("Count words in text files", tmp_path / "out")
    service.drive(sid)
    service.reject(sid, "not what I meant")
    assert service.next_action(sid).kind == "run"
    kinds = [e.kind for e in service.events]
    assert ev.REJECTED in kinds and ev.STEPPED_BACK in kinds
    assert service.view(sid).steps["approval"] == "pending"


def test_revise_spec_is_a_new_version_reviewed_again(service, tmp_path):
    sid = service.start("Count words in text files", tmp_path / "out")
    first = service.drive(sid)
    text = service.view(sid).spec["text"].replace("Counts words", "Counts the words")
    version = service.revise_spec(sid, text)
    assert version["version"] == 2
    added = [e for e in service.events if isinstance(e, ev.SpecVersionAdded)]
    assert added[-1].version == 2 and added[-1].source == "edit"
    second = service.drive(sid)
    assert second.gate == "spec" and second.sha256 != first.sha256


def test_drive_with_yes_and_with_one_exact_hash(service, tmp_path):
    sid = service.start("csv2json", tmp_path / "out", spec_text=SPEC.read_text(), template="python-cli")
    spec_gate = service.drive(sid)
    plan_gate = service.drive(sid, Policy(approve=spec_gate.sha256[:12]))
    assert plan_gate.status == "gate" and plan_gate.gate == "plan"
    with pytest.raises(UsageError, match="the plan waiting for approval"):
        service.drive(sid, Policy(approve=spec_gate.sha256[:12]))  # that hash is not this gate's


def test_every_state_change_is_an_event(service, tmp_path):
    sid = service.start("Count words in text files", tmp_path / "out")
    service.drive(sid)
    changes = [(e.step, e.status) for e in service.events if isinstance(e, ev.StatusChanged)]
    assert ("request", "running") in changes and ("request", "done") in changes
    assert ("approval", "waiting") in changes
    assert any(isinstance(e, ev.FindingsChanged) and e.open == 1 for e in service.events)


def test_a_read_only_service_calls_no_model(tmp_path):
    store = Store(tmp_path / "wb.db")
    writer = SessionService(store, lambda m, t: OfflineAgents(t))
    sid = writer.start("Count words in text files", tmp_path / "out")
    writer.drive(sid)
    reader = SessionService(store)  # no provider factory at all
    assert reader.view(sid).next.kind == "approve"
    assert len(reader.findings(sid)) == 1
    assert reader.plan(sid).files


def test_the_engine_matches_the_protocol_the_service_uses():
    """EngineLike lists what the service calls; the real engine has each with a compatible signature."""
    for name, member in inspect.getmembers(EngineLike, inspect.isfunction):
        if name.startswith("_"):
            continue
        real = getattr(Engine, name, None)
        assert real is not None, name
        want = [p for p in inspect.signature(member).parameters if p != "self"]
        have = list(inspect.signature(real).parameters)
        assert all(p in have for p in want), (name, want, have)


# -- --json ---------------------------------------------------------------------------------


def wb(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(WORKBENCH_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def lines(stdout: str) -> list[dict]:
    out = [json.loads(line) for line in stdout.splitlines()]
    assert all(o["schema"] == ev.SCHEMA_VERSION and o["kind"] in ev.KINDS for o in out)
    return out


def test_json_to_the_end_ends_in_finished(tmp_path):
    r = wb(tmp_path, "new", "x", "--spec", str(SPEC), "--out", str(tmp_path / "p"), "--json", "--yes",
           "--no-monitor")
    assert r.returncode == 0, r.stderr
    events = lines(r.stdout)
    assert events[-1]["kind"] == "finished" and events[-1]["status"] == "done" and events[-1]["exit_code"] == 0
    done = [e["step"] for e in events if e["kind"] == "step_done"]
    assert done[:2] == ["request", "analysis"] and "cicd" in done
    assert "session " in r.stderr  # the human note went to stderr


def test_json_at_a_gate_ends_in_the_gate_and_resume_approves_it(tmp_path):
    r = wb(tmp_path, "new", "x", "--spec", str(SPEC), "--out", str(tmp_path / "p"), "--json")
    assert r.returncode == 3
    last = lines(r.stdout)[-1]
    assert last["kind"] == "gate" and last["gate"] == "spec" and len(last["sha256"]) == 64
    r = wb(tmp_path, "resume", last["session"][:12], "--approve", last["sha256"][:12], "--json")
    assert r.returncode == 3
    events = lines(r.stdout)
    assert any(e["kind"] == "approved" and e["sha256"] == last["sha256"] for e in events)
    assert events[-1]["kind"] == "gate" and events[-1]["gate"] == "plan"
