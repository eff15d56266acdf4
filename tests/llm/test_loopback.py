"""The loopback server also answers non-streaming requests, for all three providers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.loopback import Reply

MODELS = {"openai": "openai/gpt-4o", "anthropic": "anthropic/claude-sonnet-4-5",
          "gemini": "gemini/gemini-2.5-pro"}


@pytest.mark.parametrize("provider", list(MODELS))
def test_non_streaming_through_litellm(provider, srv):
    from workbench.llm.gateway import litellm_module

    litellm = litellm_module()
    srv.script([Reply(text="whole answer", prompt_tokens=11, completion_tokens=2)])
    resp = litellm.completion(model=MODELS[provider], messages=[{"role": "user", "content": "hi"}],
                              api_base=srv.api_base(provider), api_key="sk-test-loopback", stream=False,
                              extra_headers={"X-Workbench-Step": "analysis", "X-Workbench-Session": "s"},
                              num_retries=0, max_retries=0)
    assert resp.choices[0].message.content == "whole answer"
    assert resp.usage.prompt_tokens == 11 and resp.usage.completion_tokens == 2
    (req,) = srv.requests
    assert req.provider == provider and not req.stream and req.step == "analysis"


def test_error_bodies_and_unscripted_requests(srv):
    srv.script([Reply(status=429, retry_after=3)])
    body = json.dumps({"model": "m", "messages": [], "stream": False}).encode()
    for expected in (429, 500):
        req = urllib.request.Request(srv.url + "/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == expected
        if expected == 429:
            assert info.value.headers["Retry-After"] == "3"
        else:
            assert "no scripted reply" in info.value.read().decode()
    assert len(srv.requests) == 2 and srv.pending == 0
