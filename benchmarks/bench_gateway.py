"""Gateway overhead: stream a 20,000-token reply through the gateway and through a bare
LiteLLM streaming loop, from the loopback server, in the same run.

    .venv/bin/python benchmarks/bench_gateway.py [--tokens 20000] [--rounds 3]
                                                  [--provider openai|anthropic|gemini|all] [--json]

Prints the median wall time of each and the ratio gateway / bare (goal: <= 1.1), and
the same for process CPU time (steadier on a busy machine; the loopback server runs in
this process, so its CPU counts on both sides).
The gateway run includes everything it does per call: the worker thread and token
queue, cancel checks, on_token delivery, usage, cost and recording the call in a
(temporary) store. `main()` returns the results as a dict for a report runner.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.loopback import LoopbackLLM, Reply

MODELS = {"openai": "openai/gpt-4o", "anthropic": "anthropic/claude-sonnet-4-5",
          "gemini": "gemini/gemini-2.5-pro"}
KEY = "sk-bench-not-a-real-key"


def _reply_text(tokens: int) -> str:
    return "".join(f" w{i % 1000}" for i in range(tokens))


def _bare(litellm, srv: LoopbackLLM, provider: str, text_len: int) -> float:
    import httpx

    kw = dict(model=MODELS[provider], messages=[{"role": "user", "content": "go"}],
              api_base=srv.api_base(provider), api_key=KEY, stream=True,
              stream_options={"include_usage": True}, num_retries=0, max_retries=0,
              timeout=httpx.Timeout(120.0, connect=10.0),
              extra_headers={"X-Workbench-Step": "bench", "X-Workbench-Session": "bench"})
    t, c = time.perf_counter(), time.process_time()
    parts = []
    for chunk in litellm.completion(**kw):
        if chunk.choices:
            piece = chunk.choices[0].delta.content
            if piece:
                parts.append(piece)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    assert len("".join(parts)) == text_len, "bare loop lost text"
    return elapsed, cpu


def _gateway(gw, srv: LoopbackLLM, provider: str, text_len: int) -> float:
    from workbench.llm.base import AgentContext
    from workbench.llm.registry import ModelTarget

    target = ModelTarget(provider, MODELS[provider], provider, srv.api_base(provider), "BENCH_KEY")
    received = []
    ctx = AgentContext("bench", "bench", on_token=received.append)
    t, c = time.perf_counter(), time.process_time()
    result = gw.complete(target, [{"role": "user", "content": "go"}], ctx)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    assert len(result.text) == text_len and len("".join(received)) == text_len, "gateway lost text"
    return elapsed, cpu


def _markdown_reply(tokens: int) -> str:
    """A reply shaped like a model's: paragraphs of about 50 tokens, a bullet list now and
    then, so the chat pane's Markdown has real blocks to lay out."""
    out = []
    for i in range(tokens):
        lead = "\n- " if i % 250 in (200, 210, 220) else " "
        out.append(f"{lead}w{i % 1000}" + ("\n\n" if i % 50 == 49 else ""))
    return "".join(out)


async def _in_app_async(gw, srv: LoopbackLLM, provider: str, text: str) -> tuple[float, float, dict]:
    """One stream through the gateway into the real app's chat pane (headless, 120x40),
    timed from the call to the frame that shows the last token."""
    import asyncio
    import threading

    from workbench.lifecycle import events as ev
    from workbench.lifecycle.events import Event
    from workbench.llm.base import AgentContext
    from workbench.llm.registry import ModelTarget
    from workbench.ui.app import WorkbenchApp

    home = Path(tempfile.mkdtemp(prefix="wb-bench-app-"))
    os.environ["WORKBENCH_HOME"] = str(home)
    os.environ["WORKBENCH_NO_BLINK"] = "1"
    app = WorkbenchApp(out_dir=home, open_backend=False)
    target = ModelTarget(provider, MODELS[provider], provider, srv.api_base(provider), "BENCH_KEY")
    step = "analysis"
    info: dict = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        # what the TUI does when the engine starts a step: flush tokens at 20 fps, open a turn
        app.engine_running = True
        app._start_flushing()
        app._engine_callback(Event(ev.STEP_STARTED, "bench", step))
        await pilot.pause()
        ctx = AgentContext("bench", step, on_token=lambda t: app._engine_callback(Event(ev.TOKEN, "bench", step, t)))
        screen = app.screen
        painted: list[float] = []
        original = screen._compositor_refresh

        def timed_refresh() -> None:
            original()
            painted.append(time.perf_counter())

        screen._compositor_refresh = timed_refresh
        done = threading.Event()
        result: dict = {}

        def call() -> None:
            try:
                result["completion"] = gw.complete(target, [{"role": "user", "content": "go"}], ctx)
            except BaseException as exc:  # noqa: BLE001 - reported below
                result["error"] = exc
            done.set()

        t, c = time.perf_counter(), time.process_time()
        threading.Thread(target=call, daemon=True).start()
        while not done.is_set():
            await asyncio.sleep(0.01)
        if "error" in result:
            raise result["error"]
        while app.turn is None or len(app.turn.text) < len(text):
            await asyncio.sleep(0.001)
            if time.perf_counter() - t > 600:
                raise RuntimeError("the chat pane never showed the whole reply")
        await app.turn.finish()  # the Markdown stream writes what it still holds
        shown_at = time.perf_counter()
        while not painted or painted[-1] < shown_at:
            await asyncio.sleep(0.001)
        elapsed, cpu = painted[-1] - t, time.process_time() - c
        screen._compositor_refresh = original
        info = {"segments": len(app.turn.segments), "frames": sum(1 for p in painted if p >= t)}
        assert app.turn.text == text, "the chat pane lost text"
        app.engine_running = False
        app.bridge.stop_flushing()
    return elapsed, cpu, info


def _in_app(gw, srv: LoopbackLLM, provider: str, text: str) -> tuple[float, float, dict]:
    import asyncio

    return asyncio.run(_in_app_async(gw, srv, provider, text))


def _compare(provider: str, text: str, ours, rounds: int) -> tuple[list, list, int]:
    """The bare LiteLLM loop and `ours(gateway, server, provider, text)` against one
    loopback server serving `text`, after a warm-up of both (first-call imports inside
    LiteLLM), interleaved in alternating order so drift hits both alike. Returns the
    (wall, cpu) samples of each side (ours may add an info dict) and the calls the
    gateway recorded."""
    from workbench.llm.gateway import Gateway, litellm_module
    from workbench.store import Store

    litellm = litellm_module()
    os.environ["BENCH_KEY"] = KEY
    with tempfile.TemporaryDirectory() as tmp, LoopbackLLM(responder=lambda _r: Reply(text=text)) as srv:
        store = Store(Path(tmp) / "bench.db")
        gw = Gateway(store)
        sides = [lambda: _bare(litellm, srv, provider, len(text)), lambda: ours(gw, srv, provider, text)]
        for side in sides:
            side()
        samples: list[list] = [[], []]
        for i in range(rounds):
            for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                samples[which].append(sides[which]())
        calls = len(store.list_model_calls("bench"))
        store.close()
    return samples[0], samples[1], calls


def _medians(samples: list) -> tuple[float, float]:
    return statistics.median(x[0] for x in samples), statistics.median(x[1] for x in samples)


def measure_in_app(provider: str, tokens: int, rounds: int) -> dict:
    """The bare LiteLLM loop against the gateway streaming into the app's chat pane."""
    bare, app, _calls = _compare(provider, _markdown_reply(tokens), _in_app, rounds)
    (mb, cb), (ma, ca) = _medians(bare), _medians(app)
    return {"provider": provider, "tokens": tokens, "rounds": rounds, "bare_median_s": round(mb, 4),
            "app_median_s": round(ma, 4), "ratio": round(ma / mb, 3), "cpu_ratio": round(ca / cb, 3),
            "bare_s": [round(x[0], 4) for x in bare], "app_s": [round(x[0], 4) for x in app],
            "segments": app[-1][2]["segments"], "frames": statistics.median(x[2]["frames"] for x in app)}


def measure(provider: str, tokens: int, rounds: int) -> dict:
    """The bare LiteLLM loop against the gateway (headless)."""
    bare, gate, calls = _compare(provider, _reply_text(tokens),
                                 lambda gw, srv, p, text: _gateway(gw, srv, p, len(text)), rounds)
    (mb, cb), (mg, cg) = _medians(bare), _medians(gate)
    return {"provider": provider, "tokens": tokens, "rounds": rounds, "bare_median_s": round(mb, 4),
            "gateway_median_s": round(mg, 4), "ratio": round(mg / mb, 3), "goal": 1.1,
            "ok": mg / mb <= 1.1, "cpu_bare_median_s": round(cb, 4), "cpu_gateway_median_s": round(cg, 4),
            "cpu_ratio": round(cg / cb, 3), "bare_s": [round(x[0], 4) for x in bare],
            "gateway_s": [round(x[0], 4) for x in gate], "recorded_calls": calls}


AREA = "Gateway"


def run(quick: bool = False) -> list:
    """The report runner's entry point (benchmarks/README.md): one row per provider."""
    from benchmarks.common import Row

    rows = []
    for provider in (["openai"] if quick else list(MODELS)):
        tokens, rounds = (5_000, 1) if quick else (20_000, 3)
        try:
            r = measure(provider, tokens, rounds)
        except Exception as exc:  # noqa: BLE001 - a report row, not a crash
            rows.append(Row.not_measured(f"{tokens:,}-token stream via the gateway ({provider})",
                                         f"{type(exc).__name__}: {exc}", goal="at most 1.1x"))
            continue
        rows.append(Row(
            what=f"{tokens:,}-token stream via the gateway ({provider}, headless)",
            reference="bare LiteLLM streaming loop, same loopback server",
            value=r["gateway_median_s"], ref_value=r["bare_median_s"], unit="s",
            goal="at most 1.1x", met=r["ratio"] <= 1.1,
            command=f".venv/bin/python benchmarks/bench_gateway.py --provider {provider} --tokens {tokens}",
            samples=r["gateway_s"], ref_samples=r["bare_s"],
            note=f"CPU-time ratio {r['cpu_ratio']:.3f}; {r['recorded_calls']} calls recorded in the store",
        ))
    tokens, rounds = (5_000, 1) if quick else (20_000, 3)
    what = f"{tokens:,}-token stream via the gateway into the chat pane (openai, headless app)"
    try:
        r = measure_in_app("openai", tokens, rounds)
    except Exception as exc:  # noqa: BLE001 - a report row, not a crash
        rows.append(Row.not_measured(what, f"{type(exc).__name__}: {exc}", goal="at most 1.3x"))
    else:
        rows.append(Row(
            what=what, reference="bare LiteLLM streaming loop, same loopback server and reply",
            value=r["app_median_s"], ref_value=r["bare_median_s"], unit="s", goal="at most 1.3x",
            met=r["ratio"] <= 1.3,
            command=f".venv/bin/python benchmarks/bench_gateway.py --app --tokens {tokens}",
            samples=r["app_s"], ref_samples=r["bare_s"],
            note=f"from the call to the painted frame showing the last token, in the real "
                 f"WorkbenchApp (run_test, 120x40) fed as the engine feeds it; the reply is Markdown "
                 f"(paragraphs and lists, shown in {r['segments']} segments); {r['frames']:.0f} frames painted; CPU-time ratio "
                 f"{r['cpu_ratio']:.3f}"))
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--provider", default="openai", choices=[*MODELS, "all"])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--app", action="store_true", help="stream into the TUI's chat pane (headless app)")
    args = ap.parse_args(argv)
    providers = list(MODELS) if args.provider == "all" else [args.provider]
    if args.app:
        results = [measure_in_app(p, args.tokens, args.rounds) for p in providers]
        for r in results:
            print(f"{r['provider']:<10} {r['tokens']} tokens x {r['rounds']} rounds: bare LiteLLM median "
                  f"{r['bare_median_s']:.3f}s, into the chat pane {r['app_median_s']:.3f}s, ratio "
                  f"{r['ratio']:.3f} (goal <= 1.3); CPU ratio {r['cpu_ratio']:.3f}")
        return results
    results = [measure(p, args.tokens, args.rounds) for p in providers]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['provider']:<10} {r['tokens']} tokens x {r['rounds']} rounds: "
                  f"bare LiteLLM median {r['bare_median_s']:.3f}s, gateway median {r['gateway_median_s']:.3f}s, "
                  f"ratio {r['ratio']:.3f} (goal <= {r['goal']}) {'OK' if r['ok'] else 'OVER'}; "
                  f"CPU ratio {r['cpu_ratio']:.3f}")
    return results


if __name__ == "__main__":
    main()
