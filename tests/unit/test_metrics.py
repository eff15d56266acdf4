"""Metrics of a scripted set of sessions match values computed by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workbench.store import Store
from workbench.store import metrics as m

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DESIGN = ("request", "analysis", "spec", "review", "approval", "implementation")
BASE = "".join(f"line {i}\n" for i in range(1, 11))


class Clock:
    def __init__(self):
        self.now = T0

    def at(self, seconds: float) -> None:
        self.now = T0 + timedelta(seconds=seconds)

    def __call__(self):
        return self.now


def _steps(s: Store, clock: Clock, sid: str, script: list[tuple]) -> None:
    for t, step, status in script:
        clock.at(t)
        s.set_step(sid, step, status)


@pytest.fixture
def scripted(tmp_path):
    clock = Clock()
    s = Store(tmp_path / "m.db", clock=clock)
    s1 = s.create_session("one", "/1", model="gpt")
    s2 = s.create_session("two", "/2", model="claude")
    s3 = s.create_session("three", "/3", model="claude")
    s4 = s.create_session("four", "/4", model="gpt")

    # S1: the whole design phase done, 0 s -> 125 s (approval waits for the human)
    _steps(s, clock, s1, [
        (0, "request", "running"), (1, "request", "done"),
        (1, "analysis", "running"), (5, "analysis", "done"),
        (5, "spec", "running"), (35, "spec", "done"),
        (35, "review", "running"), (45, "review", "done"),
        (45, "approval", "running"), (46, "approval", "waiting"), (105, "approval", "done"),
        (105, "implementation", "running"), (125, "implementation", "done"),
    ])
    # S2: spec fails once, then succeeds; design phase 200 s -> 300 s
    _steps(s, clock, s2, [
        (200, "request", "running"), (201, "request", "done"),
        (201, "analysis", "running"), (203, "analysis", "done"),
        (203, "spec", "running"), (213, "spec", "failed"),
        (220, "spec", "running"), (260, "spec", "done"),
        (260, "review", "running"), (270, "review", "done"),
        (270, "approval", "running"), (290, "approval", "done"),
        (290, "implementation", "running"), (300, "implementation", "done"),
    ])
    # S3: only the request step; S4: nothing
    _steps(s, clock, s3, [(500, "request", "running"), (502, "request", "done")])

    # model calls: (session, step, model, prompt, completion, cost, outcome)
    for sid, step, model, pt, ct, cost, outcome in [
        (s1, "spec", "gpt", 100, 200, 0.01, "ok"),
        (s4, "spec", "gpt", 300, 400, 0.03, "ok"),
        (s1, "review", "gpt", 50, 0, None, "timeout"),
        (s2, "spec", "claude", 10, 20, None, "ok"),
        (s2, "spec", "claude", 30, 40, 0.02, "ok"),
        (s3, "spec", "claude", 50, 60, 0.04, "ok"),
        (s2, "spec", "claude", 70, 0, None, "rate_limit"),
    ]:
        s.record_model_call(sid, step, model, pt, ct, cost, 1.0, outcome)

    # monitor runs: S1 passes; S2 lint fails; S3 tests failed then passed on re-run
    for sid, kind, code in [
        (s1, "tests", 0), (s1, "lint", 0),
        (s2, "tests", 0), (s2, "lint", 1),
        (s3, "tests", 1), (s3, "lint", 0), (s3, "tests", 0),
    ]:
        s.record_run(sid, "monitor", kind, kind, code, 2.0, "", "bwrap")

    # drafts and approvals
    # S1: gpt draft, the developer changes 2 lines, approves v2 -> distance 2
    s.add_spec_version(s1, BASE, None, "draft", "agent:gpt", model="gpt")
    v2 = BASE.replace("line 3\n", "line three\n").replace("line 7\n", "line seven\n")
    s.add_spec_version(s1, v2, None, "edit", "human:ann")
    s.add_approval(s1, "spec", s.get_spec_version(s1)["sha256"], "human:ann")
    # S2: two claude drafts, an edit adding one line to the second, approved -> distance 1
    s.add_spec_version(s2, "something else\n", None, "draft", "agent:claude", model="claude")
    s.add_spec_version(s2, BASE, None, "draft", "agent:claude", model="claude")
    s.add_spec_version(s2, BASE + "line 11\n", None, "edit", "human:bob")
    s.add_approval(s2, "spec", s.get_spec_version(s2)["sha256"], "human:bob")
    # S3: claude draft approved untouched (model known only from the actor) -> distance 0
    s.add_spec_version(s3, "---\nname: s3\n---\n", None, "draft", "agent:claude")
    s.add_approval(s3, "spec", s.get_spec_version(s3)["sha256"], "human:ann")
    # S4: a gpt draft never approved
    s.add_spec_version(s4, "draft four\n", None, "draft", "agent:gpt", model="gpt")
    yield s
    s.close()


def test_success_rate(scripted):
    got = m.success_rate(scripted)
    assert (got["projects"], got["passed"], got["failed"]) == (3, 2, 1)
    assert got["rate"] == pytest.approx(2 / 3)
    assert got["by_model"]["gpt"] == {"projects": 1, "passed": 1, "rate": 1.0}
    assert got["by_model"]["claude"] == {"projects": 2, "passed": 1, "rate": 0.5}


def test_step_and_phase_times(scripted):
    steps = m.step_times(scripted)
    assert steps["spec"]["count"] == 2  # the failed attempt is not a completion
    assert steps["spec"]["mean_s"] == pytest.approx(35.0)  # (30 + 40) / 2
    assert steps["spec"]["max_s"] == pytest.approx(40.0)
    assert steps["request"]["count"] == 3
    assert steps["request"]["mean_s"] == pytest.approx(4 / 3)  # (1 + 1 + 2) / 3
    assert steps["approval"]["mean_s"] == pytest.approx(40.0)  # (60 + 20) / 2, waits included
    assert steps["approval"]["phase"] == "design"
    assert list(steps)[:3] == ["request", "analysis", "spec"]  # lifecycle order
    phases = m.phase_times(scripted)
    assert set(phases) == {"design"}  # S3 did not finish the phase
    assert phases["design"]["count"] == 2
    assert phases["design"]["mean_s"] == pytest.approx(112.5)  # (125 + 100) / 2
    assert phases["design"]["max_s"] == pytest.approx(125.0)


def test_error_rates(scripted):
    e = m.error_rates(scripted)
    assert e["step_attempts"] == 14 and e["step_failures"] == 1
    assert e["step_error_rate"] == pytest.approx(1 / 14)
    assert e["model_calls"] == 7 and e["model_errors"] == 2
    causes = {(c["source"], c["cause"]): c for c in e["by_cause"]}
    assert set(causes) == {("step", "spec"), ("model", "timeout"), ("model", "rate_limit"),
                           ("run", "tests"), ("run", "lint")}
    assert causes[("step", "spec")]["rate"] == pytest.approx(1 / 3)  # 1 of 3 spec attempts
    assert causes[("model", "timeout")]["rate"] == pytest.approx(1 / 7)
    assert causes[("run", "tests")]["errors"] == 1 and causes[("run", "tests")]["total"] == 4
    assert causes[("run", "lint")]["rate"] == pytest.approx(1 / 3)


def test_tokens_and_cost(scripted):
    u = m.usage(scripted)
    gpt, claude = u["by_model"]["gpt"], u["by_model"]["claude"]
    assert (gpt["calls"], gpt["prompt_tokens"], gpt["completion_tokens"]) == (3, 450, 600)
    assert gpt["cost"] == pytest.approx(0.04) and gpt["cost_unknown_calls"] == 0  # a failed call costs 0
    assert (claude["calls"], claude["prompt_tokens"], claude["completion_tokens"]) == (4, 160, 120)
    assert claude["cost"] == pytest.approx(0.06) and claude["cost_unknown_calls"] == 1
    spec, review = u["by_step"]["spec"], u["by_step"]["review"]
    assert (spec["calls"], spec["tokens"]) == (6, 560 + 720)
    assert spec["cost"] == pytest.approx(0.10)
    assert review["cost"] == 0 and review["cost_unknown_calls"] == 0  # failed, nothing billed
    assert u["by_phase"]["design"]["calls"] == 7


def test_edit_distance_per_model(scripted):
    d = m.draft_stats(scripted)
    assert d["gpt"]["drafts"] == 2 and d["gpt"]["approved"] == 1
    assert d["gpt"]["mean_edit_distance"] == 2
    assert d["claude"]["drafts"] == 3 and d["claude"]["approved"] == 2
    assert d["claude"]["mean_edit_distance"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert d["claude"]["max_edit_distance"] == 1


def test_compute_is_json_and_cli_prints_it(scripted, tmp_path):
    data = m.compute(scripted)
    json.dumps(data)
    assert data["success"]["passed"] == 2
    out = subprocess.run(
        [sys.executable, "-m", "workbench", "metrics", "--db", str(scripted.path), "--json"],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["success"]["rate"] == pytest.approx(2 / 3)
    assert got["recommendations"][0]["step"] == "spec"
    assert got["recommendations"][0]["model"] == "claude"
    assert got["knowledge_base"]["approved_specs"] == 3
    out = subprocess.run(
        [sys.executable, "-m", "workbench", "metrics", "--db", str(scripted.path)],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=120, env={"COLUMNS": "150",
                                                                     "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    for text in ("67%", "Completion time per phase", "timeout", "rate_limit", "$0.0400",
                 "unknown", "claude", "Recommendations"):
        assert text in out.stdout, text


def test_empty_database_metrics(tmp_path):
    with Store(tmp_path / "e.db") as s:
        data = m.compute(s)
    assert data["success"]["rate"] is None and data["success"]["projects"] == 0
    assert data["errors"]["step_error_rate"] is None
    assert data["step_times"] == {} and data["phase_times"] == {}
    assert data["edit_distance"] == {}
