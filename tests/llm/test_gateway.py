"""The gateway over real LiteLLM and real HTTP, against the loopback server."""

from __future__ import annotations

import threading

import pytest

from tests.support.loopback import Reply
from workbench.errors import WorkbenchError
from workbench.llm.base import AgentContext
from workbench.llm.gateway import ModelCancelled, ModelError, ModelIncomplete

PROVIDERS = ["openai", "anthropic", "gemini"]
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]


def ctx(session_id, step="spec", tokens=None, cancel=None):
    c = AgentContext(session_id, step, on_token=(tokens.append if tokens is not None else (lambda _t: None)))
    if cancel is not None:
        c.cancel = cancel
    return c


def assert_one_line(err: Exception, *must_contain: str):
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    for m in must_contain:
        assert m in text, text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streams_tags_and_records(provider, srv, keys, gateway, store, session_id, target_for):
    reply = "Hello from the loopback, streamed one token at a time."
    srv.script([reply])
    tokens: list[str] = []
    result = gateway.complete(target_for(provider), MESSAGES, ctx(session_id, "review", tokens))
    assert result.text == reply
    assert "".join(tokens) == reply and len(tokens) >= 1
    assert result.finish_reason
    (req,) = srv.requests
    assert req.provider == provider and req.stream
    # Tagging reaches the wire for every provider.
    assert req.headers["x-workbench-step"] == "review"
    assert req.headers["x-workbench-session"] == session_id
    assert "Say hello." in req.prompt_text() and "You are terse." in req.prompt_text()
    (call,) = store.list_model_calls(session_id)
    assert call["model"] == target_for(provider).model
    assert call["step"] == "review" and call["outcome"] == "ok"
    assert call["prompt_tokens"] == result.prompt_tokens and call["prompt_tokens"] > 0
    assert call["completion_tokens"] == result.completion_tokens and call["completion_tokens"] > 0
    assert call["cost"] is not None and call["cost"] > 0  # a known price from the bundled map
    assert call["latency_s"] >= 0


def test_unknown_price_is_recorded_as_unknown(srv, keys, gateway, store, session_id, target_for):
    srv.script(["ok"])
    result = gateway.complete(target_for("openai", model="openai/loopback-unpriced-model"), MESSAGES,
                              ctx(session_id))
    assert result.cost is None
    (call,) = store.list_model_calls(session_id)
    assert call["cost"] is None and call["outcome"] == "ok"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_retry_after_is_honoured(provider, srv, keys, gateway, sleeps, store, session_id, target_for):
    srv.script([Reply(status=429, retry_after=7), "after the wait"])
    result = gateway.complete(target_for(provider), MESSAGES, ctx(session_id))
    assert result.text == "after the wait"
    assert sleeps.calls == [7.0]
    outcomes = [c["outcome"] for c in store.list_model_calls(session_id)]
    assert sorted(outcomes) == ["error", "ok"]


def test_5xx_retries_then_fallback_takes_over(srv, keys, gateway, sleeps, store, session_id, target_for):
    primary = target_for("anthropic", alias="claude")
    fallback = target_for("gemini", alias="gemini")
    srv.script([Reply(status=500), Reply(status=503, retry_after=2), Reply(status=500), "from the fallback"])
    result = gateway.complete([primary, fallback], MESSAGES, ctx(session_id))
    assert result.text == "from the fallback"
    assert result.target.alias == "gemini"
    assert [r.provider for r in srv.requests] == ["anthropic"] * 3 + ["gemini"]
    assert sleeps.calls[1] == 2.0  # Retry-After on a 5xx is honoured too
    assert len(sleeps.calls) == 2
    calls = store.list_model_calls(session_id)
    assert [c["outcome"] for c in calls].count("error") == 3
    assert {c["model"] for c in calls} == {primary.model, fallback.model}


def test_every_model_failing_is_one_line_naming_each(srv, keys, gateway, target_for, session_id):
    srv.script([Reply(status=500)] * 3 + [Reply(status=401, error_message="bad key")])
    with pytest.raises(ModelError) as info:
        gateway.complete([target_for("openai", alias="gpt"), target_for("anthropic", alias="claude")],
                         MESSAGES, ctx(session_id))
    assert isinstance(info.value, WorkbenchError)
    assert_one_line(info.value, "gpt (openai/gpt-4o)", "HTTP 500", "after 3 attempts", "claude",
                    "authentication failed", "ANTHROPIC_API_KEY")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_hang_past_the_read_timeout(provider, srv, keys, store, session_id, target_for):
    from workbench.llm.gateway import Gateway, GatewaySettings

    gw = Gateway(store, GatewaySettings(connect_timeout=1.0, read_timeout=0.5, max_retries=0))
    srv.script([Reply(fault="hang", hang_s=5)])
    with pytest.raises(ModelError) as info:
        gw.complete(target_for(provider), MESSAGES, ctx(session_id))
    assert_one_line(info.value, target_for(provider).model, "timed out")
    assert store.list_model_calls(session_id)[0]["outcome"] == "error"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_truncated_stream_is_asked_again_once(provider, srv, keys, gateway, store, session_id, target_for):
    text = " ".join(f"word{i}" for i in range(400))
    srv.script([Reply(fault="truncate", text=text), "the whole answer"])
    notices: list[str] = []
    c = ctx(session_id)
    c.on_notice = notices.append
    result = gateway.complete(target_for(provider), MESSAGES, c)
    assert result.text == "the whole answer"
    assert len(srv.requests) == 2
    assert any("stopped midway" in n and "asking again" in n for n in notices), notices
    assert [c["outcome"] for c in store.list_model_calls(session_id)] == ["incomplete", "ok"]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["truncate", "cut"])
def test_stream_cut_twice_keeps_partial_marked_incomplete(provider, fault, srv, keys, gateway, store,
                                                          session_id, target_for):
    text = " ".join(f"word{i}" for i in range(400))
    srv.script([Reply(fault=fault, text=text), Reply(fault=fault, text=text), "never asked for"])
    tokens: list[str] = []
    with pytest.raises(ModelIncomplete) as info:
        gateway.complete(target_for(provider), MESSAGES, ctx(session_id, tokens=tokens))
    err = info.value
    assert err.incomplete and err.partial
    assert text.startswith(err.partial) and len(err.partial) < len(text)
    assert "".join(tokens).endswith(err.partial)  # both attempts were shown; the last is kept
    assert_one_line(err, target_for(provider).model, "stopped midway", "nothing applied")
    assert len(srv.requests) == 2  # one retry, then a clear failure
    assert [c["outcome"] for c in store.list_model_calls(session_id)] == ["incomplete", "incomplete"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_clean_end_without_the_end_marker_is_incomplete(provider, srv, keys, gateway, session_id,
                                                          target_for):
    """LiteLLM makes up finish_reason="stop" when a stream just ends; the wire decides."""
    text = " ".join(f"line{i}" for i in range(60))
    srv.script([Reply(fault="cut", text=text, cut_at=0.5)] * 2)
    with pytest.raises(ModelIncomplete) as info:
        gateway.complete(target_for(provider), MESSAGES, ctx(session_id))
    marker = {"openai": "finish_reason", "anthropic": "message_stop", "gemini": "finishReason"}[provider]
    assert_one_line(info.value, "without its end marker", marker)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_stream_is_said_and_not_retried(provider, srv, keys, gateway, sleeps, store, session_id,
                                                  target_for):
    srv.script([Reply(fault="malformed", text="some words of a reply")])
    with pytest.raises(ModelError) as info:
        gateway.complete(target_for(provider), MESSAGES, ctx(session_id))
    assert not isinstance(info.value, ModelIncomplete)
    assert_one_line(info.value, target_for(provider).model, "malformed stream")
    text = str(info.value)
    assert "connection failed" not in text and "Traceback" not in text and 'File "' not in text
    assert len(srv.requests) == 1 and sleeps.calls == []
    (call,) = store.list_model_calls(session_id)
    assert call["outcome"] == "error" and "malformed stream" in call["error"]


def test_malformed_stream_falls_back(srv, keys, gateway, session_id, target_for):
    srv.script([Reply(fault="malformed", text="x y z"), "from gemini"])
    result = gateway.complete([target_for("anthropic", alias="claude"), target_for("gemini", alias="gemini")],
                              MESSAGES, ctx(session_id))
    assert result.text == "from gemini"
    assert result.fallback == "claude failed (malformed stream); answered by gemini"


def test_each_retry_and_its_wait_is_said(srv, keys, gateway, sleeps, session_id, target_for):
    srv.script([Reply(status=500), Reply(status=429, retry_after=3), "fine"])
    notices: list[str] = []
    c = ctx(session_id)
    c.on_notice = notices.append
    gateway.complete(target_for("openai", alias="gpt"), MESSAGES, c)
    assert len(notices) == 2, notices
    assert "HTTP 500" in notices[0] and "retrying in 0.01s (attempt 2 of 3)" in notices[0]
    assert "HTTP 429" in notices[1] and "retrying in 3s (attempt 3 of 3)" in notices[1]
    assert c.notes == []  # retries are progress, not part of the step's line


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_model_timeout_from_config_is_used(provider, srv, keys, store, session_id, target_for):
    import dataclasses
    import time

    from workbench.llm.gateway import Gateway, GatewaySettings

    gw = Gateway(store, GatewaySettings(connect_timeout=1.0, read_timeout=30.0, max_retries=0))
    srv.script([Reply(fault="hang", hang_s=5)])
    target = dataclasses.replace(target_for(provider), timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ModelError) as info:
        gw.complete(target, MESSAGES, ctx(session_id))
    assert time.monotonic() - t0 < 4
    assert_one_line(info.value, "timed out (no reply within 0.5s)")
    assert store.list_model_calls(session_id)[0]["cost"] == 0  # nothing generated, nothing billed


def test_fallback_is_said_and_attributed(srv, keys, gateway, store, session_id, target_for):
    primary = target_for("anthropic", alias="claude")
    fallback = target_for("gemini", alias="gemini")
    srv.script([Reply(status=500)] * 3 + ["from the fallback"])
    c = ctx(session_id, "review")
    result = gateway.complete([primary, fallback], MESSAGES, c)
    assert result.fallback == "claude failed (HTTP 500 ×3); answered by gemini"
    assert c.notes == [result.fallback]
    (event,) = store.list_events(session=session_id, action="model_fallback", limit=5)
    assert event["summary"] == result.fallback and event["actor"] == "agent:reviewer"
    assert event["payload"]["answered_by"] == fallback.model
    calls = store.list_model_calls(session_id)
    failed = [x for x in calls if x["model"] == primary.model]
    assert len(failed) == 3 and all(x["cost"] == 0 and not x["prompt_tokens"] for x in failed)
    (ok,) = [x for x in calls if x["model"] == fallback.model]
    assert ok["cost"] == pytest.approx(result.cost) and ok["cost"] > 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_non_json_body_is_a_clear_failure(provider, srv, keys, gateway, target_for, session_id):
    srv.script([Reply(fault="non_json")])
    with pytest.raises(ModelError) as info:
        gateway.complete(target_for(provider), MESSAGES, ctx(session_id))
    assert not isinstance(info.value, ModelIncomplete)
    assert_one_line(info.value, target_for(provider).model)


def test_cancel_stops_the_call(srv, keys, gateway, store, session_id, target_for):
    cancel = threading.Event()
    srv.script([Reply(fault="hang", hang_s=5)])
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    with pytest.raises(ModelCancelled) as info:
        gateway.complete(target_for("openai"), MESSAGES, ctx(session_id, cancel=cancel))
    assert_one_line(info.value, "cancelled")
    assert store.list_model_calls(session_id)[0]["outcome"] == "cancelled"


def test_cancel_midstream_keeps_partial(srv, keys, gateway, session_id, target_for):
    cancel = threading.Event()
    tokens: list[str] = []

    def on_token(t):
        tokens.append(t)
        cancel.set()

    srv.script([Reply(text=" ".join(["tok"] * 3000), chunk_tokens=1, delay_s=0)])
    c = AgentContext(session_id, "spec", on_token=on_token, cancel=cancel)
    with pytest.raises(ModelCancelled) as info:
        gateway.complete(target_for("anthropic"), MESSAGES, c)
    assert info.value.partial == "".join(tokens)


def test_sentinel_keys_never_reach_db_or_errors(srv, keys, gateway, store, session_id, target_for):
    # The keys are sent to the (loopback) provider...
    srv.script(["fine", Reply(status=401, error_message=f"invalid key {keys['OPENAI_API_KEY']}"),
                Reply(status=400, error_message=f"echo {keys['ANTHROPIC_API_KEY']} x-goog-api-key: "
                                                f"{keys['GEMINI_API_KEY']}")])
    gateway.complete(target_for("gemini"), MESSAGES, ctx(session_id))
    assert srv.requests[0].headers.get("x-goog-api-key") == keys["GEMINI_API_KEY"]
    errors = []
    for provider in ("openai", "anthropic"):
        with pytest.raises(ModelError) as info:
            gateway.complete(target_for(provider), MESSAGES, ctx(session_id))
        errors.append(str(info.value))
    # ...but never appear in an error message or the database.
    dump = "\n".join(store.conn.iterdump())
    for secret in keys.values():
        for e in errors:
            assert secret not in e
        assert secret not in dump
    assert "echo" in errors[1] and ("***" in errors[1] or "REDACTED" in errors[1])


def test_no_litellm_output_on_failures(srv, keys, gateway, session_id, target_for, capfd):
    srv.script([Reply(status=400, error_message="nope")])
    with pytest.raises(ModelError):
        gateway.complete(target_for("openai"), MESSAGES, ctx(session_id))
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_preload_imports_in_background():
    from workbench.llm import gateway

    t = gateway.preload()
    t.join(60)
    assert gateway.is_loaded()
    import os

    assert os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"


def test_fallback_without_a_key_is_skipped(srv, keys, gateway, monkeypatch, session_id, target_for):
    monkeypatch.delenv("GEMINI_API_KEY")
    srv.script([Reply(status=404)])
    with pytest.raises(ModelError) as info:
        gateway.complete([target_for("openai"), target_for("gemini")], MESSAGES, ctx(session_id))
    assert_one_line(info.value, "model not found", "gemini", "no API key (set GEMINI_API_KEY)")
    assert len(srv.requests) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_nothing_listening_is_a_connection_failure(provider, keys, gateway, sleeps, session_id, target_for):
    import dataclasses
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    target = dataclasses.replace(target_for(provider), api_base=f"http://127.0.0.1:{port}")
    with pytest.raises(ModelError) as info:
        gateway.complete(target, MESSAGES, ctx(session_id))
    assert_one_line(info.value, target.model, "after 3 attempts")
    assert len(sleeps.calls) == 2
