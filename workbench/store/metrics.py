"""Metrics computed from the database (read-only).

Definitions (the tests compute these by hand):

* **success rate**: of the sessions with at least one run at step `monitor`, the
  share whose latest run of every kind (tests, lint, ...) exited 0.
* **step time**: for each attempt of a step that ended `done`, the time from its
  `running` transition to its `done` transition (a gate's wait for approval counts).
  **phase time**: for each session in which every step of the phase is done, the
  wall-clock time from the first `running` of any of its steps to the last `done`.
* **error rate by cause**: step attempts that failed (cause = the step), model calls
  whose outcome is not ok (cause = what went wrong, from the recorded error: `429`,
  `5xx`, `timeout`, `bad stream` (malformed, cut short or without its end marker),
  `connection`, `auth`, `cancelled`, else the outcome), replies that failed their
  check (source `output`, cause `invalid output`: every re-ask and every rejection
  after one), runs that exited non-zero or not at all (cause = the run kind); each
  rate is over all attempts/calls/runs of that cause's group (the step, all model
  calls, the run kind). `reasks` counts the re-asks.
* **usage**: calls, prompt and completion tokens, cost per model, per step and per
  phase. A call that failed with nothing generated costs 0 (it is not billed). A call
  of unknown cost adds nothing to `cost` and is counted in `cost_unknown_calls`; `cost`
  is None when no call had a known cost.
* **edit distance**: for each model draft (spec version with source `draft`) that an
  approved spec descends from, the line edit distance from the draft to the approved
  text (the latest draft at or before the approved version).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from workbench.store.audit import line_edit_distance
from workbench.store.timeutil import parse_ts

if TYPE_CHECKING:  # pragma: no cover
    from workbench.store.db import Store

OK_OUTCOMES = frozenset({"ok", "success", "done"})
_OK_SQL = ", ".join(repr(o) for o in sorted(OK_OUTCOMES))
# A failed call with nothing generated was not billed: its cost is 0, not unknown.
_COST_SQL = (f"CASE WHEN cost IS NULL AND outcome NOT IN ({_OK_SQL}) AND outcome != 'cancelled' "
             "AND coalesce(completion_tokens, 0) = 0 THEN 0.0 ELSE cost END")
_CAUSES = (  # (cause, what the gateway writes into the error) — first match wins
    ("429", ("http 429", "rate limited")),
    ("5xx", ("http 5", "server error")),
    ("timeout", ("timed out", "timeout")),
    ("bad stream", ("malformed stream", "end marker", "stopped midway", "readable", "stream ended")),
    ("connection", ("connection failed", "connection error")),
    ("auth", ("authentication", "http 401", "http 403", "no api key")),
)


def call_cause(outcome: str, error: str | None) -> str:
    """What went wrong in a model call, from its outcome and one-line error."""
    if outcome == "incomplete":
        return "bad stream"
    low = (error or "").lower()
    for cause, needles in _CAUSES:
        if any(n in low for n in needles):
            return cause
    return outcome


def _phases() -> tuple[dict[str, str], dict[str, list[str]]]:
    try:
        from workbench.lifecycle.steps import STEPS
    except ImportError:  # pragma: no cover
        return {}, {}
    phase_of = {s.id: s.phase for s in STEPS}
    steps_of: dict[str, list[str]] = defaultdict(list)
    for s in STEPS:
        steps_of[s.phase].append(s.id)
    return phase_of, dict(steps_of)


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "mean_s": None, "median_s": None, "min_s": None, "max_s": None,
                "total_s": 0.0}
    return {
        "count": len(values),
        "mean_s": statistics.fmean(values),
        "median_s": statistics.median(values),
        "min_s": min(values),
        "max_s": max(values),
        "total_s": sum(values),
    }


# ------------------------------------------------------------------ success rate

def success_rate(store: Store) -> dict[str, Any]:
    rows = store.read(
        "SELECT r.session_id, r.kind, r.exit_code, s.model, s.template FROM runs r "
        "LEFT JOIN sessions s ON s.id = r.session_id "
        "WHERE r.step = 'monitor' ORDER BY r.id"
    )
    latest: dict[str, dict[str, int | None]] = defaultdict(dict)
    meta: dict[str, tuple] = {}
    for sid, kind, code, model, template in rows:
        latest[sid][kind] = code  # later rows overwrite: the latest run of each kind
        meta[sid] = (model, template)
    passed_ids = {sid for sid, kinds in latest.items() if all(c == 0 for c in kinds.values())}

    def group(index: int) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for sid in latest:
            key = meta[sid][index] or "unknown"
            g = out.setdefault(key, {"projects": 0, "passed": 0})
            g["projects"] += 1
            g["passed"] += sid in passed_ids
        for g in out.values():
            g["rate"] = g["passed"] / g["projects"]
        return out

    n = len(latest)
    return {
        "projects": n,
        "passed": len(passed_ids),
        "failed": n - len(passed_ids),
        "rate": len(passed_ids) / n if n else None,
        "by_model": group(0),
        "by_template": group(1),
    }


# ------------------------------------------------------------------ times

def _attempts(store: Store) -> list[dict]:
    """Every attempt from the step log: session, step, start, end, outcome."""
    rows = store.read("SELECT session_id, step, status, ts FROM step_log ORDER BY id")
    open_: dict[tuple[str, str], str] = {}
    out: list[dict] = []
    for sid, step, status, ts in rows:
        key = (sid, step)
        if status == "running":
            open_[key] = ts
        elif status in ("done", "failed") and key in open_:
            start = open_.pop(key)
            out.append({"session_id": sid, "step": step, "start": start, "end": ts,
                        "status": status,
                        "seconds": (parse_ts(ts) - parse_ts(start)).total_seconds()})
        elif status == "pending":
            open_.pop(key, None)
    return out


def step_times(store: Store, attempts: list[dict] | None = None) -> dict[str, dict]:
    attempts = _attempts(store) if attempts is None else attempts
    phase_of, _ = _phases()
    values: dict[str, list[float]] = defaultdict(list)
    for a in attempts:
        if a["status"] == "done":
            values[a["step"]].append(a["seconds"])
    order = list(phase_of)
    keys = sorted(values, key=lambda s: (order.index(s) if s in order else len(order), s))
    return {s: {"phase": phase_of.get(s, "other"), **_summary(values[s])} for s in keys}


def phase_times(store: Store, attempts: list[dict] | None = None) -> dict[str, dict]:
    attempts = _attempts(store) if attempts is None else attempts
    phase_of, steps_of = _phases()
    current = store.read("SELECT session_id, step, status FROM steps")
    status: dict[str, dict[str, str]] = defaultdict(dict)
    for sid, step, st in current:
        status[sid][step] = st
    first: dict[tuple[str, str], str] = {}
    last: dict[tuple[str, str], str] = {}
    for a in attempts:
        phase = phase_of.get(a["step"])
        if phase is None:
            continue
        key = (a["session_id"], phase)
        if key not in first or a["start"] < first[key]:
            first[key] = a["start"]
        if a["status"] == "done" and (key not in last or a["end"] > last[key]):
            last[key] = a["end"]
    values: dict[str, list[float]] = defaultdict(list)
    for (sid, phase), start in first.items():
        steps = steps_of.get(phase, [])
        if steps and all(status[sid].get(s) == "done" for s in steps) and (sid, phase) in last:
            values[phase].append((parse_ts(last[(sid, phase)]) - parse_ts(start)).total_seconds())
    return {p: _summary(values[p]) for p in steps_of if p in values}


# ------------------------------------------------------------------ errors

def error_rates(store: Store, attempts: list[dict] | None = None) -> dict[str, Any]:
    attempts = _attempts(store) if attempts is None else attempts
    causes: list[dict] = []

    per_step: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # [failures, attempts]
    for a in attempts:
        per_step[a["step"]][1] += 1
        per_step[a["step"]][0] += a["status"] == "failed"
    for step, (failed, total) in sorted(per_step.items()):
        if failed:
            causes.append({"source": "step", "cause": step, "errors": failed, "total": total,
                           "rate": failed / total})

    calls = store.read("SELECT outcome, error, count(*) FROM model_calls GROUP BY outcome, error")
    n_calls = sum(c for _, _, c in calls)
    by_cause: dict[str, int] = defaultdict(int)
    for outcome, error, count in calls:
        if outcome not in OK_OUTCOMES:
            by_cause[call_cause(outcome, error)] += count
    for cause, count in sorted(by_cause.items()):
        causes.append({"source": "model", "cause": cause, "errors": count,
                       "total": n_calls, "rate": count / n_calls})
    checks = dict(store.read(
        "SELECT action, count(*) FROM events WHERE action IN "
        "('model_output_invalid', 'model_output_rejected') GROUP BY action"))
    invalid = sum(checks.values())
    if invalid:
        causes.append({"source": "output", "cause": "invalid output", "errors": invalid,
                       "total": n_calls, "rate": invalid / n_calls if n_calls else None})

    runs = store.read(
        "SELECT kind, sum(exit_code IS NULL OR exit_code != 0), count(*) FROM runs GROUP BY kind"
    )
    for kind, failed, total in sorted(runs):
        if failed:
            causes.append({"source": "run", "cause": kind, "errors": failed, "total": total,
                           "rate": failed / total})

    n_attempts = len(attempts)
    n_failed = sum(a["status"] == "failed" for a in attempts)
    n_call_errors = sum(c for o, _, c in calls if o not in OK_OUTCOMES)
    return {
        "step_attempts": n_attempts,
        "step_failures": n_failed,
        "step_error_rate": n_failed / n_attempts if n_attempts else None,
        "model_calls": n_calls,
        "model_errors": n_call_errors,
        "model_error_rate": n_call_errors / n_calls if n_calls else None,
        "reasks": checks.get("model_output_invalid", 0),
        "rejected_after_reask": checks.get("model_output_rejected", 0),
        "by_cause": sorted(causes, key=lambda c: (-c["errors"], c["source"], c["cause"])),
    }


# ------------------------------------------------------------------ tokens and cost

def model_call_stats(store: Store) -> list[dict]:
    """Per (model, step): calls, ok, tokens, cost, mean latency."""
    rows = store.read(
        "SELECT model, step, count(*), "
        f"sum(outcome IN ({_OK_SQL})), "
        "coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), "
        f"sum({_COST_SQL}), count({_COST_SQL}), avg(latency_s) "
        "FROM model_calls GROUP BY model, step ORDER BY model, step"
    )
    return [
        {"model": m, "step": s, "calls": n, "ok": ok, "prompt_tokens": pt,
         "completion_tokens": ct, "tokens": pt + ct, "cost": cost, "cost_known_calls": known,
         "cost_unknown_calls": n - known, "mean_latency_s": lat}
        for m, s, n, ok, pt, ct, cost, known, lat in rows
    ]


def _roll(rows: list[dict], key) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in rows:
        k = key(r) or "unknown"
        g = out.setdefault(k, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0,
                               "tokens": 0, "cost": None, "cost_unknown_calls": 0})
        for f in ("calls", "prompt_tokens", "completion_tokens", "tokens", "cost_unknown_calls"):
            g[f] += r[f]
        if r["cost"] is not None:
            g["cost"] = (g["cost"] or 0.0) + r["cost"]
    return out


def usage(store: Store, stats: list[dict] | None = None) -> dict[str, dict]:
    stats = model_call_stats(store) if stats is None else stats
    phase_of, _ = _phases()
    return {
        "by_model": _roll(stats, lambda r: r["model"]),
        "by_step": _roll(stats, lambda r: r["step"]),
        "by_phase": _roll(stats, lambda r: phase_of.get(r["step"] or "", "other")),
    }


# ------------------------------------------------------------------ edit distance

def _draft_model(version: dict, session_model: str | None) -> str:
    if version.get("model"):
        return version["model"]
    actor = version.get("actor") or ""
    if actor.startswith("agent:") and len(actor) > 6:
        return actor[6:]
    return session_model or "unknown"


def draft_pairs(store: Store) -> list[dict]:
    """Every model draft with, when a spec descending from it was approved, the
    approved version and the line edit distance between them."""
    sessions = {r[0]: r[1] for r in store.read("SELECT id, model FROM sessions")}
    approvals = {
        r[0]: r[1]
        for r in store.read(
            "SELECT session_id, sha256 FROM approvals a WHERE gate = 'spec' AND id = "
            "(SELECT max(id) FROM approvals b WHERE b.session_id = a.session_id "
            "AND b.gate = 'spec')"
        )
    }
    versions: dict[str, list[dict]] = defaultdict(list)
    for r in store.read_dicts(
        "SELECT session_id, version, text, sha256, source, actor, model FROM spec_versions "
        "ORDER BY session_id, version"
    ):
        versions[r["session_id"]].append(r)
    out: list[dict] = []
    for sid, vs in versions.items():
        approved = None
        sha = approvals.get(sid)
        if sha:
            matching = [v for v in vs if v["sha256"] == sha]
            approved = matching[-1] if matching else None
        drafts = [v for v in vs if v["source"] == "draft"]
        basis = None
        if approved is not None:
            before = [d for d in drafts if d["version"] <= approved["version"]]
            basis = before[-1] if before else None
        for d in drafts:
            pair = {"session_id": sid, "version": d["version"],
                    "model": _draft_model(d, sessions.get(sid)), "approved": d is basis,
                    "approved_version": None, "edit_distance": None}
            if d is basis:
                pair["approved_version"] = approved["version"]
                pair["edit_distance"] = line_edit_distance(d["text"], approved["text"])
            out.append(pair)
    return out


def draft_stats(store: Store, pairs: list[dict] | None = None) -> dict[str, dict]:
    pairs = draft_pairs(store) if pairs is None else pairs
    out: dict[str, dict] = {}
    for p in pairs:
        g = out.setdefault(p["model"], {"drafts": 0, "approved": 0, "distances": []})
        g["drafts"] += 1
        if p["approved"]:
            g["approved"] += 1
            g["distances"].append(p["edit_distance"])
    for g in out.values():
        d = g["distances"]
        g["mean_edit_distance"] = statistics.fmean(d) if d else None
        g["median_edit_distance"] = statistics.median(d) if d else None
        g["max_edit_distance"] = max(d) if d else None
    return dict(sorted(out.items()))


# ------------------------------------------------------------------ all of it

def compute(store: Store) -> dict[str, Any]:
    """Every metric, as plain data (what `workbench metrics --json` prints)."""
    attempts = _attempts(store)
    stats = model_call_stats(store)
    return {
        "success": success_rate(store),
        "step_times": step_times(store, attempts),
        "phase_times": phase_times(store, attempts),
        "errors": error_rates(store, attempts),
        "usage": usage(store, stats),
        "usage_by_model_step": stats,
        "edit_distance": draft_stats(store),
    }
