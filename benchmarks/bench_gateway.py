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


def measure(provider: str, tokens: int, rounds: int) -> dict:
    from workbench.llm.gateway import Gateway, litellm_module
    from workbench.store import Store

    litellm = litellm_module()
    os.environ["BENCH_KEY"] = KEY
    text = _reply_text(tokens)
    with tempfile.TemporaryDirectory() as tmp, LoopbackLLM(responder=lambda _r: Reply(text=text)) as srv:
        store = Store(Path(tmp) / "bench.db")
        gw = Gateway(store)
        # Warm up both paths (first-call imports inside LiteLLM).
        _bare(litellm, srv, provider, len(text))
        _gateway(gw, srv, provider, len(text))
        bare, gate = [], []
        for i in range(rounds):  # interleaved, alternating order, so drift hits both equally
            if i % 2 == 0:
                bare.append(_bare(litellm, srv, provider, len(text)))
                gate.append(_gateway(gw, srv, provider, len(text)))
            else:
                gate.append(_gateway(gw, srv, provider, len(text)))
                bare.append(_bare(litellm, srv, provider, len(text)))
        calls = len(store.list_model_calls("bench"))
        store.close()
    mb, mg = statistics.median(w for w, _ in bare), statistics.median(w for w, _ in gate)
    cb, cg = statistics.median(c for _, c in bare), statistics.median(c for _, c in gate)
    return {"provider": provider, "tokens": tokens, "rounds": rounds, "bare_median_s": round(mb, 4),
            "gateway_median_s": round(mg, 4), "ratio": round(mg / mb, 3), "goal": 1.1,
            "ok": mg / mb <= 1.1, "cpu_bare_median_s": round(cb, 4), "cpu_gateway_median_s": round(cg, 4),
            "cpu_ratio": round(cg / cb, 3), "bare_s": [round(w, 4) for w, _ in bare],
            "gateway_s": [round(w, 4) for w, _ in gate], "recorded_calls": calls}


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
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--provider", default="openai", choices=[*MODELS, "all"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    providers = list(MODELS) if args.provider == "all" else [args.provider]
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
