"""Audit log benchmarks (issue 5): measured and printed, never asserted.

    .venv/bin/python benchmarks/bench_audit.py [--events 1000000] [--json report.json]

Targets: append >= 5,000 events/s in one process; verify >= 200,000 events/s;
the newest page of a million-event log in < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.store import Store

TARGETS = {
    "append_single_per_s": 5_000,
    "append_batched_per_s": 5_000,
    "verify_per_s": 200_000,
    "newest_page_ms": 50,
}
ACTIONS = ("step_started", "step_done", "draft", "edit", "test_run", "commit", "approve")


def _event(i: int, sid: str) -> dict:
    action = ACTIONS[i % len(ACTIONS)]
    return {
        "session_id": sid,
        "actor": "human:Ann <ann@example.com>" if action in ("edit", "approve") else "agent:gpt",
        "step": "spec",
        "action": action,
        "summary": f"event {i}: {action} of spec v{i % 7}",
        "payload": {"n": i, "sha256": f"{i:064x}"} if action == "approve" else {"n": i},
        "tokens": 1000 + i % 500 if action == "draft" else None,
        "cost": 0.001 * (i % 9) if action == "draft" else None,
    }


def _timed(fn, repeat: int = 20) -> float:
    """Median wall time of fn() in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run(events: int = 1_000_000, single: int = 5_000, workdir: Path | None = None) -> dict:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        # 1. appends, one transaction per event (what the engine does)
        with Store(Path(tmp) / "single.db") as s:
            sid = s.create_session("bench", tmp)
            evs = [_event(i, sid) for i in range(single)]
            t = time.perf_counter()
            for e in evs:
                s.audit(**e)
            results["append_single_per_s"] = single / (time.perf_counter() - t)

        # 2. appends batched (audit_many / store.batch) while building the big log
        with Store(Path(tmp) / "big.db") as s:
            sids = [s.create_session(f"bench {k}", tmp) for k in range(50)]
            chunk = 10_000
            t = time.perf_counter()
            for start in range(0, events, chunk):
                s.audit_many([_event(i, sids[(i // 100) % len(sids)])
                              for i in range(start, min(events, start + chunk))])
            results["append_batched_per_s"] = events / (time.perf_counter() - t)
            results["events"] = events

            # 3. verify the whole chain
            t = time.perf_counter()
            r = s.verify_chain()
            elapsed = time.perf_counter() - t
            assert r.ok and r.checked == events, r
            results["verify_per_s"] = events / elapsed
            results["verify_s"] = elapsed

            # 4. pages of the million-event log
            results["newest_page_ms"] = _timed(lambda: s.list_events(limit=50))
            results["deep_page_ms"] = _timed(
                lambda: s.list_events(limit=50, before_id=events // 2))
            results["session_page_ms"] = _timed(lambda: s.list_events(session=sids[7], limit=50))
            results["approve_page_ms"] = _timed(lambda: s.list_events(action="approve", limit=50))
            results["actor_page_ms"] = _timed(lambda: s.list_events(actor="ann", limit=50))
            mid = s.get_event(events // 2)["ts"]
            results["since_page_ms"] = _timed(lambda: s.list_events(since=mid, limit=50))
            recent = s.get_event(events - 10)["ts"]  # only a handful of events match
            results["since_recent_page_ms"] = _timed(lambda: s.list_events(since=recent, limit=50))
            results["db_mb"] = (Path(tmp) / "big.db").stat().st_size / 1e6
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="size of the big log")
    p.add_argument("--single", type=int, default=5_000, help="events appended one by one")
    p.add_argument("--json", metavar="FILE", help="also write the results here")
    args = p.parse_args(argv)
    res = run(args.events, args.single)
    print(f"audit benchmark ({res['events']:,} events, {res['db_mb']:.0f} MB database)")
    rows = [
        ("append, one transaction per event", "append_single_per_s", "events/s", ">="),
        ("append, batched", "append_batched_per_s", "events/s", ">="),
        ("verify the chain", "verify_per_s", "events/s", ">="),
        ("newest page (50 events)", "newest_page_ms", "ms", "<"),
        ("page in the middle (before_id)", "deep_page_ms", "ms", "<"),
        ("newest page of one session", "session_page_ms", "ms", "<"),
        ("newest page, --action approve", "approve_page_ms", "ms", "<"),
        ("newest page, --actor ann", "actor_page_ms", "ms", "<"),
        ("newest page, --since (half the log)", "since_page_ms", "ms", "<"),
        ("newest page, --since (last few events)", "since_recent_page_ms", "ms", "<"),
    ]
    for label, key, unit, op in rows:
        value = res[key]
        target = TARGETS.get(key)
        verdict = ""
        if target is not None:
            ok = value >= target if op == ">=" else value < target
            verdict = f"  (target {op} {target:,} {unit}: {'met' if ok else 'NOT met'})"
        shown = f"{value:,.0f}" if unit == "events/s" else f"{value:.2f}"
        print(f"  {label:<36} {shown:>12} {unit}{verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps({"targets": TARGETS, "results": res}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
