"""Audit log (issue 5): append, verify, and the newest page of a million events.

    .venv/bin/python benchmarks/bench_audit.py [--quick] [--append-only] [--json FILE|-]

1. Append, one `BEGIN IMMEDIATE` transaction per event (what the engine does: redaction,
   canonical JSON, sha256 chain, WAL commit): 5,000 events, 3 runs (2,000 x 1 with
   --quick). Goal: >= 5,000 events/s.
2. Append batched (`Store.audit_many`, 10,000 events per transaction) while building a
   log of 1,000,000 events (100,000 with --quick). Reported.
3. Verify that whole chain, 3 runs (1 with --quick). Goal: >= 200,000 events/s.
4. The newest page (50 events) of that log, and a few filtered pages: median of 20.
   Goal: under 50 ms.

`--append-only` measures row 1 alone (a quick look at the per-event path). Every Store
opened here keeps its audit key and heads in the temporary folder (WORKBENCH_HOME), not
in the user's config directory.

The machine is shared: each rate is also given per CPU-second of this process (in the
note), which is what the code costs when it is not waiting for a core. Timings are
reported, never asserted.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import Row, script_main

AREA = "Audit"
COMMAND = ".venv/bin/python benchmarks/bench_audit.py"
APPEND_GOAL = 5_000
VERIFY_GOAL = 200_000
PAGE_GOAL_MS = 50.0
ACTIONS = ("step_started", "step_done", "draft", "edit", "test_run", "commit", "approve")


def event(i: int, sid: str) -> dict:
    """A realistic event (keyword arguments of Store.audit)."""
    action = ACTIONS[i % len(ACTIONS)]
    return {
        "session_id": sid,
        "actor": "human:Ann <ann@example.com>" if action in ("edit", "approve") else "agent:gpt",
        "step": "spec",
        "action": action,
        "summary": f"event {i}: {action} of spec v{i % 7}",
        "payload": {"n": i, "gate": "spec", "sha256": f"{i:064x}"} if action == "approve"
        else {"n": i},
        "tokens": 1000 + i % 500 if action == "draft" else None,
        "cost": 0.001 * (i % 9) if action == "draft" else None,
    }


def build_log(store, events: int, sessions: int = 50, chunk: int = 10_000) -> list[str]:
    """Fill `store` with `events` chained events over `sessions` sessions (batched).
    Also used by the TUI benchmark for its million-event audit pane."""
    sids = [store.create_session(f"bench {k}", "/tmp/bench") for k in range(sessions)]
    for start in range(0, events, chunk):
        store.audit_many([event(i, sids[(i // 100) % sessions])
                          for i in range(start, min(events, start + chunk))])
    return sids


def _rate(n: int, fn) -> tuple[float, float]:
    """(events per wall second, events per CPU second) of fn()."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return n / wall, n / max(cpu, 1e-9)


def _page_ms(fn, repeats: int = 20) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def measure(events: int = 1_000_000, single: int = 5_000, repeats: int = 3,
            append_only: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="wb-bench-audit-") as tmp:
        old_home = os.environ.get("WORKBENCH_HOME")
        os.environ["WORKBENCH_HOME"] = str(Path(tmp) / "home")  # the key and heads files
        try:
            return _measure(Path(tmp), events, single, repeats, append_only)
        finally:
            if old_home is None:
                os.environ.pop("WORKBENCH_HOME", None)
            else:
                os.environ["WORKBENCH_HOME"] = old_home


def _measure(tmp: Path, events: int, single: int, repeats: int, append_only: bool) -> dict:
    from workbench.store import Store

    res: dict = {"events": events, "single": single}
    res["single_wall"], res["single_cpu"] = [], []
    for k in range(repeats):
        with Store(tmp / f"single{k}.db") as s:
            sid = s.create_session("bench", str(tmp))
            evs = [event(i, sid) for i in range(single)]
            wall, cpu = _rate(single, lambda: [s.audit(**e) for e in evs])  # noqa: B023
            res["single_wall"].append(wall)
            res["single_cpu"].append(cpu)
    if append_only:
        return res

    with Store(tmp / "big.db") as s:
        sids: list[str] = []
        res["batched_wall"], res["batched_cpu"] = _rate(
            events, lambda: sids.extend(build_log(s, events)))
        res["db_mb"] = (tmp / "big.db").stat().st_size / 1e6
        res["verify_wall"], res["verify_cpu"] = [], []
        for _ in range(repeats):
            result = {}
            wall, cpu = _rate(events, lambda: result.update(r=s.verify_chain()))  # noqa: B023
            if not (result["r"].ok and result["r"].checked == events):
                raise RuntimeError(f"verify failed: {result['r']}")
            res["verify_wall"].append(wall)
            res["verify_cpu"].append(cpu)
        mid = s.get_event(events // 2)["ts"]
        recent = s.get_event(events - 10)["ts"]
        res["pages"] = {
            "newest page": _page_ms(lambda: s.list_events(limit=50)),
            "a page in the middle (before_id)": _page_ms(
                lambda: s.list_events(limit=50, before_id=events // 2)),
            "newest page of one session": _page_ms(
                lambda: s.list_events(session=sids[7], limit=50)),
            "newest page, --action approve": _page_ms(
                lambda: s.list_events(action="approve", limit=50)),
            "newest page, --actor ann": _page_ms(lambda: s.list_events(actor="ann", limit=50)),
            "newest page, --since (half the log)": _page_ms(
                lambda: s.list_events(since=mid, limit=50)),
            "newest page, --since (last 10 events)": _page_ms(
                lambda: s.list_events(since=recent, limit=50)),
        }
    return res


def run(quick: bool = False, append_only: bool = False) -> list[Row]:
    events, single, repeats = (100_000, 2_000, 1) if quick else (1_000_000, 5_000, 3)
    try:
        r = measure(events, single, repeats, append_only)
    except Exception as exc:  # noqa: BLE001 - report it, do not crash the report
        return [Row.not_measured("audit append / verify / newest page", str(exc),
                                 command=COMMAND, area=AREA)]
    med = statistics.median
    rows = [
        Row(what=f"append, one transaction per event ({single:,} events)",
            value=med(r["single_wall"]), unit="events/s", goal=f">= {APPEND_GOAL:,} events/s",
            met=med(r["single_wall"]) >= APPEND_GOAL, command=COMMAND,
            samples=r["single_wall"], area=AREA,
            note=f"{med(r['single_cpu']):,.0f} events per CPU-second; includes secret "
                 "redaction, canonical JSON, sha256, HMAC, the head file and a WAL commit per "
                 "event"),
    ]
    if append_only:
        return rows
    rows += [
        Row(what=f"append, batched 10,000 per transaction ({events:,} events)",
            value=r["batched_wall"], unit="events/s", goal="reported", met=None,
            command=COMMAND, samples=[r["batched_wall"]], area=AREA,
            note=f"{r['batched_cpu']:,.0f} events per CPU-second; database {r['db_mb']:.0f} MB"),
        Row(what=f"verify the chain ({events:,} events)",
            value=med(r["verify_wall"]), unit="events/s", goal=f">= {VERIFY_GOAL:,} events/s",
            met=med(r["verify_wall"]) >= VERIFY_GOAL, command=COMMAND,
            samples=r["verify_wall"], area=AREA,
            note=f"{med(r['verify_cpu']):,.0f} events per CPU-second"),
    ]
    for what, samples in r["pages"].items():
        newest = what == "newest page"
        rows.append(Row(
            what=f"{what} (50 events of {events:,})", value=med(samples), unit="ms",
            goal=f"under {PAGE_GOAL_MS:.0f} ms" if newest else "reported",
            met=med(samples) < PAGE_GOAL_MS if newest else None, command=COMMAND,
            samples=samples, area=AREA))
    return rows


if __name__ == "__main__":
    only = "--append-only" in sys.argv[1:]
    sys.exit(script_main(lambda quick: run(quick, append_only=only),
                         [a for a in sys.argv[1:] if a != "--append-only"],
                         description=__doc__.splitlines()[0]))
