"""Learning: the knowledge base of approved specs and recommendations from metrics.

* Every spec version approved at the spec gate goes into `knowledge` (Store.add_approval
  does it; the store writes, this module only reads through `Store.read`/`read_dicts`), indexed with SQLite FTS5 (porter stemming) through sqlite-utils.
  `similar_specs(store, text)` finds the approved specs closest to a request or a
  draft, for the drafting prompt. `search_specs(store, query)` is a plain search.
* `recommendations(store)` turns the metrics into advice: which model, per step,
  gets its work accepted with the fewest edits at the lowest cost. It returns data
  for the developer to read; nothing here changes any setting.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from workbench.store.db import Store

# Words every spec shares (front matter keys, type names) and common English words:
# they carry no signal about what a tool does.
_STOP = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "each", "for", "from", "has", "have", "how", "i", "in", "into", "is", "it", "its", "of", "on", "one", "or", "that", "the", "their", "then", "this", "to", "use", "used", "uses", "using", "was", "we", "when", "which", "will", "with", "without", "you", "your", "not", "no", "yes", "all", "any", "via", "per", "should", "must", "may", "also", "than", "out", "name", "summary", "template", "version", "license", "commands", "command", "arguments", "argument", "options", "option", "type", "help", "default", "choices", "choice", "dependencies", "integrations", "github_actions", "circleci", "devcontainer", "true", "false", "str", "int", "float", "path", "flag", "python", "cli", "bash", "mit", "overview", "requirements", "acceptance", "criteria", "tool", "tools", "file", "files"]
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")
MAX_TERMS = 24


def add_approved_spec(store: Store, text: str, sha256: str | None = None,
                      session_id: str | None = None, model: str | None = None) -> None:
    """Add a spec to the knowledge base by hand (approvals do it automatically): the
    store writes it (`Store.add_knowledge`); this module only reads."""
    store.add_knowledge(text, sha256, session_id=session_id, model=model)


def _terms(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    counts = Counter(w for w in words if w not in _STOP and len(w) > 2)
    return [w for w, _ in counts.most_common(MAX_TERMS)]


def _fts(store: Store, match: str, limit: int, exclude_sha: str | None) -> list[dict]:
    sql = (
        "SELECT k.id, k.session_id, k.sha256, k.name, k.summary, k.template, k.model, "
        "k.text, k.created, bm25(knowledge_fts, 4.0, 2.0, 1.0) AS score "
        "FROM knowledge_fts JOIN knowledge k ON k.id = knowledge_fts.rowid "
        "WHERE knowledge_fts MATCH ?"
    )
    params: list[Any] = [match]
    if exclude_sha:
        sql += " AND k.sha256 != ?"
        params.append(exclude_sha)
    sql += " ORDER BY score LIMIT ?"
    params.append(int(limit))
    return store.read_dicts(sql, params)


def similar_specs(store: Store, text: str, limit: int = 3,
                  exclude_sha: str | None = None) -> list[dict]:
    """The approved specs most similar to `text` (a request or a spec), best first.

    Each is a dict: id, session_id, sha256, name, summary, template, model, text,
    created, score (bm25: lower is closer)."""
    terms = _terms(text or "")
    if not terms or limit <= 0:
        return []
    match = " OR ".join(f'"{t}"' for t in terms)
    return _fts(store, match, limit, exclude_sha)


def search_specs(store: Store, query: str, limit: int = 10) -> list[dict]:
    """Approved specs matching every word of `query` (words only; no FTS syntax)."""
    words = [w.lower() for w in _WORD.findall(query or "")]
    if not words:
        return []
    return _fts(store, " ".join(f'"{w}"' for w in words), limit, None)


def knowledge_count(store: Store) -> int:
    return store.read("SELECT count(*) FROM knowledge")[0][0]


# ------------------------------------------------------------------ recommendations

def recommendations(store: Store, min_samples: int = 1) -> list[dict]:
    """Advice per step, as data. Each item:

    {"step", "model", "reason", "metric", "candidates": [per-model evidence]}

    For the `spec` step a model is ranked by its drafts: approval rate (high), then
    the mean line edit distance between its draft and the approved spec (low), then
    the mean cost per draft (low; unknown cost ranks after known). For every other
    step with model calls: success rate of its calls (high), then mean cost (low),
    then mean latency (low). Models with fewer than `min_samples` samples are listed
    but not recommended.
    """
    from workbench.store import metrics as m

    min_samples = max(1, min_samples)
    out: list[dict] = []
    drafts = m.draft_stats(store)
    calls = m.model_call_stats(store)
    spec_cost = {r["model"]: r for r in calls if r["step"] == "spec"}

    cands = []
    for model, d in drafts.items():
        c = spec_cost.get(model)
        mean_cost = (c["cost"] / c["cost_known_calls"]) if c and c["cost_known_calls"] else None
        cands.append({
            "model": model,
            "drafts": d["drafts"],
            "approved": d["approved"],
            "approval_rate": d["approved"] / d["drafts"] if d["drafts"] else 0.0,
            "mean_edit_distance": d["mean_edit_distance"],
            "mean_cost": mean_cost,
        })
    ranked = sorted(
        (c for c in cands if c["approved"] >= min_samples),
        key=lambda c: (-c["approval_rate"], c["mean_edit_distance"],
                       c["mean_cost"] is None, c["mean_cost"] or 0.0),
    )
    if ranked:
        best = ranked[0]
        cost = "unknown cost" if best["mean_cost"] is None else f"${best['mean_cost']:.4f}/draft"
        out.append({
            "step": "spec",
            "model": best["model"],
            "metric": "approval rate, edit distance, cost",
            "reason": (f"{best['approved']}/{best['drafts']} drafts approved with "
                       f"{best['mean_edit_distance']:.1f} changed lines on average, {cost}"),
            "candidates": sorted(cands, key=lambda c: c["model"]),
        })

    by_step: dict[str, list[dict]] = {}
    for r in calls:
        if r["step"] in (None, "spec"):
            continue
        by_step.setdefault(r["step"], []).append({
            "model": r["model"],
            "calls": r["calls"],
            "success_rate": r["ok"] / r["calls"] if r["calls"] else 0.0,
            "mean_cost": r["cost"] / r["cost_known_calls"] if r["cost_known_calls"] else None,
            "mean_latency_s": r["mean_latency_s"],
        })
    for step, rows in sorted(by_step.items()):
        ranked = sorted(
            (c for c in rows if c["calls"] >= min_samples and c["success_rate"] > 0),
            key=lambda c: (-c["success_rate"], c["mean_cost"] is None, c["mean_cost"] or 0.0,
                           c["mean_latency_s"] if c["mean_latency_s"] is not None else 1e18),
        )
        if not ranked:
            continue
        best = ranked[0]
        cost = "unknown cost" if best["mean_cost"] is None else f"${best['mean_cost']:.4f}/call"
        out.append({
            "step": step,
            "model": best["model"],
            "metric": "success rate, cost, latency",
            "reason": f"{best['success_rate']:.0%} of {best['calls']} call(s) succeeded, {cost}",
            "candidates": sorted(rows, key=lambda c: c["model"]),
        })
    return out
