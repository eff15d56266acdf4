"""Learning: the knowledge base of approved specs (FTS5) and recommendations."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.store import Store, learning

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

LOGTAIL = """---
name: logtail
summary: Follow log files and highlight errors
template: python-cli
commands:
  - name: follow
    summary: Print new lines of a log file as they are written
    arguments:
      - name: logfile
        type: path
        help: Log file to follow
    options:
      - name: errors-only
        type: flag
        help: Show only lines with ERROR or WARN
---
# logtail

## Overview
Tail a growing log file, colour severities, filter by level.
"""

GITSTATS = """---
name: git-stats
summary: Summarise commit activity of a git repository
template: bash-cli
commands:
  - name: authors
    summary: Commits per author in a date range
---
# git-stats

## Overview
Count commits per author and per week in a git repository.
"""


def _approve(s: Store, text: str, model: str = "gpt") -> str:
    sid = s.create_session("r", "/o", model=model)
    s.add_spec_version(sid, text, None, "draft", f"agent:{model}", model=model)
    s.add_approval(sid, "spec", s.get_spec_version(sid)["sha256"], "human:ann")
    return sid


@pytest.fixture
def kb(tmp_path):
    s = Store(tmp_path / "k.db")
    csv = (FIXTURES / "csv2json.spec.md").read_text()
    _approve(s, csv)
    _approve(s, LOGTAIL, "claude")
    _approve(s, GITSTATS)
    # a draft that was never approved is not knowledge
    sid = s.create_session("r", "/o")
    s.add_spec_version(sid, "---\nname: csv-unapproved\nsummary: csv json convert\n---\n", None,
                       "draft", "agent:gpt")
    yield s, csv
    s.close()


def test_only_approved_specs_are_in_the_knowledge_base(kb):
    s, _ = kb
    assert learning.knowledge_count(s) == 3
    names = {r["name"] for r in learning.similar_specs(s, "csv json convert", limit=10)}
    assert "csv-unapproved" not in names


def test_similar_request_finds_the_approved_spec(kb):
    s, csv = kb
    hits = learning.similar_specs(s, "a tool to convert CSV files into JSON documents", limit=3)
    assert hits and hits[0]["name"] == "csv2json" and hits[0]["text"] == csv
    assert hits[0]["template"] == "python-cli" and hits[0]["model"] == "gpt"
    hits = learning.similar_specs(s, "tail my application log and show the errors", limit=1)
    assert [h["name"] for h in hits] == ["logtail"]
    hits = learning.similar_specs(s, "who commits most to this git repository each week?")
    assert hits[0]["name"] == "git-stats"


def test_similar_draft_finds_the_approved_spec_and_can_exclude_itself(kb):
    s, csv = kb
    draft = csv.replace("csv2json", "csv-to-json").replace("indent", "spacing")
    hits = learning.similar_specs(s, draft, limit=2)
    assert hits[0]["name"] == "csv2json"
    import hashlib

    sha = hashlib.sha256(csv.encode()).hexdigest()
    assert all(h["sha256"] != sha
               for h in learning.similar_specs(s, csv, limit=5, exclude_sha=sha))


def test_queries_are_safe_from_fts_syntax(kb):
    s, _ = kb
    for text in ['"unbalanced', "NEAR(csv json)", "csv AND OR NOT", "json*", "-json", "",
                 "   ", "{{ }} ^ : ( )", "ünïcödé jsön"]:
        learning.similar_specs(s, text)
        learning.search_specs(s, text)
    assert learning.similar_specs(s, "zzzz qqqq") == []


def test_search_specs_requires_every_word(kb):
    s, _ = kb
    assert [h["name"] for h in learning.search_specs(s, "log errors")] == ["logtail"]
    assert learning.search_specs(s, "log commits") == []


def test_approving_the_same_spec_twice_adds_it_once(kb):
    s, csv = kb
    _approve(s, csv)
    assert learning.knowledge_count(s) == 3
    learning.add_approved_spec(s, "---\nname: manual\nsummary: added by hand\n---\n")
    assert learning.knowledge_count(s) == 4
    assert learning.search_specs(s, "hand")[0]["name"] == "manual"


def test_recommendations_are_data_and_change_nothing(tmp_path):
    s = Store(tmp_path / "r.db")
    base = "".join(f"l{i}\n" for i in range(20))
    # gpt: 2 drafts, both approved after 3 changed lines; claude: 2 drafts approved untouched
    for model, edited in (("gpt", True), ("gpt", True), ("claude", False), ("claude", False)):
        sid = s.create_session("r", "/o", model=model)
        s.add_spec_version(sid, base, None, "draft", f"agent:{model}", model=model)
        if edited:
            s.add_spec_version(sid, base.replace("l1\n", "x\n").replace("l2\n", "y\n")
                               .replace("l3\n", "z\n"), None, "edit", "human:ann")
        s.add_approval(sid, "spec", s.get_spec_version(sid)["sha256"], "human:ann")
        s.record_model_call(sid, "spec", model, 100, 100, 0.05 if model == "gpt" else 0.02, 1.0,
                            "ok")
        # review: gpt always succeeds, claude fails half the time
        s.record_model_call(sid, "review", model, 10, 10, 0.01, 1.0,
                            "ok" if model == "gpt" or edited else "timeout")
    s.record_model_call(None, "review", "claude", 10, 10, 0.01, 1.0, "ok")
    before = s.conn.execute("SELECT count(*) FROM sessions").fetchone()[0], \
        [dict(x) for x in [s.get_session(r["id"]) for r in s.list_sessions()]]
    recs = learning.recommendations(s)
    by_step = {r["step"]: r for r in recs}
    assert by_step["spec"]["model"] == "claude"
    spec_c = {c["model"]: c for c in by_step["spec"]["candidates"]}
    assert spec_c["gpt"]["mean_edit_distance"] == 3 and spec_c["claude"]["mean_edit_distance"] == 0
    assert spec_c["claude"]["mean_cost"] == pytest.approx(0.02)
    assert by_step["review"]["model"] == "gpt"
    assert "succeeded" in by_step["review"]["reason"]
    after = s.conn.execute("SELECT count(*) FROM sessions").fetchone()[0], \
        [dict(x) for x in [s.get_session(r["id"]) for r in s.list_sessions()]]
    assert before == after
    s.close()


def test_recommendations_tie_break_on_cost(tmp_path):
    s = Store(tmp_path / "t.db")
    for model, cost in (("cheap", 0.01), ("dear", 0.09)):
        sid = s.create_session("r", "/o", model=model)
        s.add_spec_version(sid, "a\nb\n", None, "draft", f"agent:{model}", model=model)
        s.add_approval(sid, "spec", s.get_spec_version(sid)["sha256"], "human:ann")
        s.record_model_call(sid, "spec", model, 1, 1, cost, 1.0, "ok")
    assert learning.recommendations(s)[0]["model"] == "cheap"
    s.close()


def test_no_data_no_recommendations(tmp_path):
    with Store(tmp_path / "n.db") as s:
        assert learning.recommendations(s) == []


def test_drafting_a_similar_spec_puts_the_approved_one_into_the_prompt(tmp_path):
    """End to end through the lifecycle engine: the drafter receives the approved spec of
    an earlier, similar session among its examples."""
    engine_mod = pytest.importorskip("workbench.lifecycle.engine")
    offline = pytest.importorskip("workbench.llm.offline")

    class Recording(offline.OfflineAgents):
        def __init__(self):
            super().__init__()
            self.examples: list[list[str]] = []

        def draft_spec(self, ctx, request, analysis, examples):
            self.examples.append(list(examples))
            return super().draft_spec(ctx, request, analysis, examples)

    agents = Recording()
    with Store(tmp_path / "wb.db") as s:
        engine = engine_mod.Engine(s, agents)
        first = engine.start("convert CSV files to JSON documents", str(tmp_path / "one"))
        assert engine.run(first).status == "gate"
        approved = s.get_spec_version(first)
        engine.approve(first, "spec", approved["sha256"], actor="human:ann")
        assert learning.knowledge_count(s) == 1
        second = engine.start("a tool that converts CSV files into JSON", str(tmp_path / "two"))
        engine.run(second)
        assert agents.examples[0] == []  # nothing approved yet the first time
        assert approved["text"] in agents.examples[1]
