"""The gateway: the only module that imports LiteLLM, and only lazily.

Every model call streams, can be cancelled, has connect and read timeouts, retries
429/5xx/timeouts with backoff that honours `Retry-After` (each retry and its wait is
said through `ctx.say`), walks the alias's fallback chain (a fallback that answers is
said in the step's line and the audit log), tags the request with `X-Workbench-Step`
and `X-Workbench-Session`, and is recorded through the store (tokens, cost or None
when the price is unknown, 0 for a call that failed without a reply, latency, outcome).

The raw stream is read beside LiteLLM (`_Wire`): a reply is complete only when the
provider's own end marker arrived (`finish_reason`, Anthropic's `message_stop`,
Gemini's `finishReason`) -- LiteLLM makes one up when a stream just ends. A reply
without it is asked for once more, then raises `ModelIncomplete` carrying its partial
text (marked incomplete; nothing is applied). A stream that cannot be read (no
`message_start`, data that is not JSON) is a "malformed stream", not a connection
failure, and is not retried on the same model. Every failure is one `ModelError`
line naming the model and the cause, with any key redacted.
"""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from workbench.errors import WorkbenchError
from workbench.lifecycle.steps import agent_actor
from workbench.llm.base import AgentContext
from workbench.llm.targets import ModelTarget, all_key_envs

_LITELLM = None
_LOCK = threading.Lock()
_QUIET_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "LiteLLM Proxy Stdout", "litellm",
                  "httpx", "httpcore", "openai", "anthropic")


def _quiet() -> None:
    for name in _QUIET_LOGGERS:
        lg = logging.getLogger(name)
        lg.setLevel(logging.CRITICAL + 10)
        lg.propagate = False
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.addHandler(logging.NullHandler())


def litellm_module():
    """Import LiteLLM once (thread-safe), with the bundled cost map and its logging off."""
    global _LITELLM
    if _LITELLM is None:
        with _LOCK:
            if _LITELLM is None:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                import litellm

                litellm.suppress_debug_info = True
                litellm.telemetry = False
                litellm.turn_off_message_logging = True
                litellm.drop_params = True
                litellm.success_callback = []
                litellm.failure_callback = []
                _quiet()
                _LITELLM = litellm
    return _LITELLM


def preload() -> threading.Thread:
    """Import LiteLLM in a background thread (the TUI calls this after its first frame)."""

    def run() -> None:
        try:
            litellm_module()
        except Exception:  # noqa: BLE001 - a broken install surfaces on the first real call
            pass

    t = threading.Thread(target=run, name="litellm-preload", daemon=True)
    t.start()
    return t


def is_loaded() -> bool:
    return _LITELLM is not None


# -- errors --------------------------------------------------------------------------


class ModelError(WorkbenchError):
    """A model call failed: one line naming the model and the cause."""

    def __init__(self, message: str, *, model: str = "", cause: str = "", partial: str = ""):
        super().__init__(message)
        self.model = model
        self.cause = cause
        self.partial = partial
        self.incomplete = bool(partial)


class ModelIncomplete(ModelError):
    """The stream died midway: `partial` holds what arrived (shown, never applied)."""


class ModelCancelled(ModelError):
    """The user cancelled the call; `partial` holds what arrived."""


# -- settings and results ----------------------------------------------------------------


@dataclass
class GatewaySettings:
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_retries: int = 2  # per model, after the first attempt
    backoff_base: float = 1.0
    backoff_max: float = 20.0
    retry_after_max: float = 60.0  # a longer Retry-After gives up on this model
    max_tokens: int | None = 8192
    temperature: float | None = None


@dataclass
class Completion:
    text: str
    target: ModelTarget  # the model that answered (after any fallback)
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    latency_s: float
    attempts: int
    finish_reason: str | None = None
    fallback: str | None = None  # "claude failed (HTTP 500 ×3); answered by gemini", when one answered


class _Attempt(Exception):
    """One failed attempt (internal)."""

    def __init__(self, cause: str, retryable: bool, retry_after: float | None = None,
                 partial: str = "", cancelled: bool = False, malformed: bool = False,
                 incomplete: bool = False):
        super().__init__(cause)
        self.incomplete = incomplete
        self.cause = cause
        self.retryable = retryable
        self.retry_after = retry_after
        self.partial = partial
        self.cancelled = cancelled
        self.malformed = malformed


# -- the raw stream, read beside LiteLLM ---------------------------------------------------


class _Wire:
    """What one streamed reply said on the wire: its events, its end marker, and the
    first thing that makes it unreadable. Fed the raw bytes as LiteLLM reads them."""

    def __init__(self, provider: str):
        self.dialect = ("anthropic" if provider == "anthropic" else
                        "gemini" if provider in ("gemini", "vertex_ai", "vertex_ai_beta") else "openai")
        self.seen = False  # any byte at all (False: this reply was not tapped)
        self.events = 0
        self.started = False  # anthropic: message_start arrived
        self.ended = False  # the provider's end marker arrived
        self.malformed: str | None = None
        self._rest = b""

    @property
    def marker(self) -> str:
        return {"anthropic": "message_stop", "gemini": "finishReason"}.get(self.dialect, "finish_reason")

    def feed(self, data: bytes) -> None:
        self.seen = True
        if self.events > 100_000 and self.ended:
            return
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        if len(self._rest) > 4_000_000:  # no line break in megabytes: not an event stream
            self._bad("a line of several megabytes")
            self._rest = b""
        for line in lines:
            self._line(line.strip())

    def close(self) -> None:
        if self._rest.strip():
            self._line(self._rest.strip())
        self._rest = b""

    def _bad(self, why: str) -> None:
        if self.malformed is None:
            self.malformed = why

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return  # event names, comments, keep-alives
        payload = line[5:].strip()
        if payload == b"[DONE]":
            if self.dialect != "openai":
                self._bad(f"an OpenAI [DONE] line in a{'n' if self.dialect == 'anthropic' else ''} "
                          f"{self.dialect} stream")
            return
        try:
            obj = json.loads(payload)
        except ValueError:
            self._bad("a data line that is not JSON")
            return
        if not isinstance(obj, dict):
            self._bad("a data line that is not a JSON object")
            return
        self.events += 1
        if self.dialect == "anthropic":
            kind = obj.get("type")
            if kind == "message_start":
                self.started = True
            elif kind == "message_stop":
                self.ended = True
            elif kind not in ("ping", "error") and not self.started:
                self._bad(f"no message_start before {kind or 'an untyped event'}")
        elif self.dialect == "gemini":
            if any(isinstance(c, dict) and c.get("finishReason") for c in obj.get("candidates") or []):
                self.ended = True
        elif any(isinstance(c, dict) and c.get("finish_reason") for c in obj.get("choices") or []):
            self.ended = True


_TAP = threading.local()  # the _Wire of the reply the current thread is reading


@functools.cache
def _tap_class():
    import httpx

    class _TapStream(httpx.SyncByteStream):
        """A response body stream that hands every chunk to the thread's _Wire."""

        def __init__(self, inner, wire: _Wire):
            self.inner = inner
            self.wire = wire

        def __iter__(self):
            for chunk in self.inner:
                self.wire.feed(chunk)
                yield chunk
            self.wire.close()

        def close(self) -> None:
            self.inner.close()

    class TapClient(httpx.Client):
        """httpx.Client whose streamed responses are also read by the calling thread's _Wire."""

        def send(self, request, *args, **kwargs):
            response = super().send(request, *args, **kwargs)
            wire = getattr(_TAP, "wire", None)
            if wire is not None and kwargs.get("stream") and isinstance(response.stream, httpx.SyncByteStream):
                response.stream = _TapStream(response.stream, wire)
            return response

    return TapClient


_KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)(api[_-]?key|x-api-key|x-goog-api-key|authorization|bearer)([\"'=:\s]+)[^\s\"',&}]+"),
    re.compile(r"(?i)([?&]key=)[^&\s\"']+"),
]


def secret_values(target: ModelTarget | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    names = all_key_envs()
    if target is not None and target.api_key_env:
        names.add(target.api_key_env)
    vals = [env.get(n, "") for n in names]
    return sorted({v for v in vals if len(v) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: list[str] | None = None) -> str:
    for s in secrets if secrets is not None else secret_values():
        text = text.replace(s, "***")
    try:  # and the project-wide redactor (key variables, well-known key shapes)
        from workbench.safety.redact import redact as safety_redact

        text = safety_redact(text)
    except Exception:  # noqa: BLE001 - our own masking above already ran
        pass
    for pat in _KEY_PATTERNS:
        if pat.groups >= 2:
            text = pat.sub(lambda m: m.group(1) + m.group(2) + "***", text)
        elif pat.groups == 1:
            text = pat.sub(lambda m: m.group(1) + "***", text)
        else:
            text = pat.sub("***", text)
    return text


def _one_line(text: str, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _parse_retry_after(value) -> float | None:
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(value)
        return max(0.0, dt.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _headers_of(exc) -> Mapping | None:
    for e in (exc, getattr(exc, "original_exception", None)):
        if e is None:
            continue
        h = getattr(e, "litellm_response_headers", None)
        if h:
            return h
        resp = getattr(e, "response", None)
        h = getattr(resp, "headers", None)
        if h:
            return h
        h = getattr(e, "headers", None)
        if h:
            return h
    return None


def _classify(exc: BaseException, target: ModelTarget, settings: GatewaySettings) -> _Attempt:
    """A LiteLLM/httpx exception -> (one-line cause, retryable?, Retry-After)."""
    inner = getattr(exc, "original_exception", None) or exc
    status = getattr(inner, "status_code", None) or getattr(exc, "status_code", None)
    try:
        status = int(status) if status is not None else None
    except (TypeError, ValueError):
        status = None
    headers = _headers_of(exc)
    retry_after = None
    if headers is not None:
        try:
            retry_after = _parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
        except Exception:  # noqa: BLE001
            retry_after = None
    names = " ".join(type(e).__name__ for e in (exc, inner))
    text = str(getattr(inner, "message", "") or inner)
    low = text.lower()
    if "Timeout" in names or "timed out" in low or "timeout error" in low or status == 408:
        return _Attempt(f"timed out (no reply within {_read_timeout(target, settings):g}s)", True)
    if status == 429:
        return _Attempt("rate limited (HTTP 429)", True, retry_after)
    if status in (401, 403) or "AuthenticationError" in names:
        return _Attempt(f"authentication failed (HTTP {status or 401}): check {target.api_key_env or 'the API key'}",
                        False)
    if status == 404 or "NotFoundError" in names:
        return _Attempt(f"model not found (HTTP 404) at {target.api_base or target.provider}", False)
    if "disconnected" in low or "connection error" in low or "connect" in low and "refused" in low \
            or "name or service not known" in low or "nodename nor servname" in low \
            or "APIConnectionError" in names and status in (None, 500):
        where = target.api_base or target.provider
        return _Attempt(f"connection failed to {where}: {_detail(text)}", True)
    if status is not None and status >= 500:
        return _Attempt(f"server error (HTTP {status}): {_detail(text)}", True, retry_after)
    if status is not None and 400 <= status < 500:
        return _Attempt(f"request rejected (HTTP {status}): {_detail(text)}", False)
    return _Attempt(f"{type(inner).__name__}: {_detail(text)}", False)


def _read_timeout(target: ModelTarget, settings: GatewaySettings) -> float:
    return target.timeout if getattr(target, "timeout", None) else settings.read_timeout


def _short_cause(cause: str) -> str:
    """`server error (HTTP 500): boom` -> `HTTP 500`; `timed out (...)` -> `timed out`."""
    m = re.search(r"HTTP (\d{3})", cause)
    if m:
        return f"HTTP {m.group(1)}"
    return re.split(r"[:(;]| from | to ", cause, maxsplit=1)[0].strip()[:60] or cause[:60]


def fallback_note(failed: list[tuple[ModelTarget, list[str]]], answered: ModelTarget) -> str:
    """"claude failed (HTTP 500 ×3); answered by gemini"."""
    parts = []
    for target, causes in failed:
        counts: dict[str, int] = {}
        for c in causes:
            counts[_short_cause(c)] = counts.get(_short_cause(c), 0) + 1
        why = ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in counts.items()) or "unusable"
        parts.append(f"{target.alias} failed ({why})")
    return "; ".join(parts) + f"; answered by {answered.alias}"


def _detail(text: str) -> str:
    """The useful part of a LiteLLM message, without its 'litellm.X: XException -' prefixes."""
    t = str(text)
    t = t.split(" Original exception:")[0]
    m = re.search(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"', t)
    if m:
        return _one_line(m.group(1), 160) or "no detail"
    t = re.sub(r"(litellm\.)?[A-Za-z_]+(Error|Exception)\s*[:\-]\s*", "", t)
    t = t.replace("b'", "'")
    t = re.sub(r"\. Handle with `litellm\.\w+`\.?", "", t)
    t = re.sub(r"Received Model Group=.*", "", t)
    return _one_line(t, 160) or "no detail"


# -- the gateway ---------------------------------------------------------------------------

def _tap(client) -> None:
    """Make an httpx.Client hand its streamed bodies to the calling thread's _Wire."""
    import httpx

    if isinstance(client, httpx.Client) and type(client) is httpx.Client:
        client.__class__ = _tap_class()


_END = object()
DELIVERY_INTERVAL = 0.02  # seconds between deliveries of streamed text to on_token


class Gateway:
    """Calls models. Thread-safe; one per process is enough."""

    def __init__(self, store=None, settings: GatewaySettings | None = None,
                 sleep: Callable[[float, threading.Event], bool] | None = None,
                 env: Mapping[str, str] | None = None):
        self.store = store
        self.settings = settings or GatewaySettings()
        self._sleep = sleep or (lambda s, cancel: cancel.wait(s))
        self.env = env
        self._clients: dict = {}
        self._clients_lock = threading.Lock()

    # -- public --------------------------------------------------------------
    def complete(self, chain: list[ModelTarget] | ModelTarget, messages: list[dict], ctx: AgentContext,
                 **params) -> Completion:
        """Stream one completion from the first model of `chain` that answers.

        Tokens go to `ctx.on_token` in the caller's thread; `ctx.cancel` stops the call.
        Raises ModelError (ModelIncomplete, ModelCancelled) with one clear line.
        """
        targets = [chain] if isinstance(chain, ModelTarget) else list(chain)
        if not targets:
            raise ModelError("no model to call")
        failures: list[str] = []
        failed: list[tuple[ModelTarget, list[str]]] = []  # the models that did not answer, and why
        attempts_total = 0
        for target in targets:
            if not target.usable(self.env):
                failures.append(f"model {target.label}: no API key (set {target.api_key_env or 'its api_key_env'})")
                failed.append((target, ["no API key"]))
                continue
            secrets = secret_values(target, self.env)
            attempt = 0
            causes: list[str] = []
            incomplete_retried = False
            while True:
                attempt += 1
                attempts_total += 1
                try:
                    result = self._one(target, messages, ctx, secrets, params)
                    result.attempts = attempts_total
                    if failed:
                        result.fallback = fallback_note(failed, target)
                        self._said_fallback(ctx, result, failed)
                    return result
                except _Attempt as a:
                    cause = redact(a.cause, secrets)
                    causes.append(cause)
                    if a.cancelled:
                        raise ModelCancelled(f"model {target.label}: cancelled", model=target.model,
                                             cause="cancelled", partial=a.partial) from None
                    if (a.partial or a.incomplete) and not a.malformed:
                        if not incomplete_retried and not ctx.cancel.is_set():
                            incomplete_retried = True  # one more try; what was shown is discarded
                            ctx.say(f"model {target.label}: the reply stopped midway ({cause}); "
                                    f"discarded, asking again (attempt {attempt + 1})")
                            continue
                        raise ModelIncomplete(
                            f"model {target.label}: the reply stopped midway ({cause}) twice; "
                            f"kept {len(a.partial)} characters, marked incomplete, nothing applied",
                            model=target.model, cause=cause, partial=a.partial) from None
                    wait = None
                    if a.retryable and attempt <= self.settings.max_retries:
                        if a.retry_after is not None:
                            wait = a.retry_after if a.retry_after <= self.settings.retry_after_max else None
                        else:
                            wait = min(self.settings.backoff_max,
                                       self.settings.backoff_base * (2 ** (attempt - 1)))
                    if wait is not None:
                        ctx.say(f"model {target.label}: {cause}; retrying in {wait:g}s "
                                f"(attempt {attempt + 1} of {self.settings.max_retries + 1})")
                        if self._sleep(wait, ctx.cancel) or ctx.cancel.is_set():
                            raise ModelCancelled(f"model {target.label}: cancelled", model=target.model,
                                                 cause="cancelled") from None
                        continue
                    tries = f" after {attempt} attempts" if attempt > 1 else ""
                    failures.append(f"model {target.label}: {cause}{tries}")
                    failed.append((target, causes))
                    nxt = targets.index(target) + 1
                    if nxt < len(targets):
                        ctx.say(f"model {target.label}: {cause}{tries}; trying {targets[nxt].label}")
                    break
        message = failures[0] if len(failures) == 1 else (
            failures[0] + "; fallbacks failed too: " + "; ".join(f.removeprefix("model ") for f in failures[1:]))
        first = targets[0]
        raise ModelError(message, model=first.model, cause=message)

    def _said_fallback(self, ctx: AgentContext, result: Completion,
                       failed: list[tuple[ModelTarget, list[str]]]) -> None:
        """A fallback answered: say so in the step's line and the audit log."""
        note = result.fallback or ""
        ctx.say(note, in_step_line=True)
        if self.store is None:
            return
        try:
            self.store.audit(ctx.session_id, agent_actor(ctx.step), ctx.step,
                             "model_fallback", note, payload={
                                 "answered_by": result.target.model,
                                 "failed": [{"model": t.model, "causes": c} for t, c in failed],
                                 "prompt_tokens": result.prompt_tokens,
                                 "completion_tokens": result.completion_tokens, "cost": result.cost})
        except Exception:  # noqa: BLE001 - recording must not hide the answer
            logging.getLogger("workbench.llm").debug("could not audit a fallback", exc_info=True)

    def stream_text(self, chain, messages, ctx: AgentContext, **params) -> str:
        return self.complete(chain, messages, ctx, **params).text

    # -- one attempt -----------------------------------------------------------
    def _http_client(self, timeout):
        """LiteLLM's HTTP handler with our timeouts (Gemini streaming ignores `timeout`),
        its streams also read by the calling thread's _Wire."""
        with self._clients_lock:
            return self._http_client_unlocked(timeout)

    def _openai_client(self, timeout, api_base: str | None, api_key: str):
        """An OpenAI SDK client over a tapped httpx client (LiteLLM uses it as given)."""
        key = ("openai", timeout.connect, timeout.read, api_base, api_key)
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                import openai

                http = self._http_client_unlocked(timeout)
                client = openai.OpenAI(api_key=api_key, base_url=api_base or None, timeout=timeout,
                                       max_retries=0, http_client=http.client)
                self._clients[key] = client
            return client

    def _http_client_unlocked(self, timeout):
        key = ("handler", timeout.connect, timeout.read)
        client = self._clients.get(key)
        if client is None:
            from litellm.llms.custom_httpx.http_handler import HTTPHandler

            client = HTTPHandler(timeout=timeout)
            _tap(client.client)
            self._clients[key] = client
        return client

    def _kwargs(self, target: ModelTarget, messages: list[dict], ctx: AgentContext, params: dict) -> dict:
        import httpx

        s = self.settings
        timeout = httpx.Timeout(_read_timeout(target, s), connect=s.connect_timeout)
        kw: dict = {
            "model": target.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": timeout,
            "num_retries": 0,
            "max_retries": 0,
            "extra_headers": {"X-Workbench-Step": ctx.step, "X-Workbench-Session": ctx.session_id},
        }
        if s.max_tokens:
            kw["max_tokens"] = s.max_tokens
        if s.temperature is not None:
            kw["temperature"] = s.temperature
        if target.api_base:
            kw["api_base"] = target.api_base
        key = target.api_key(self.env)
        if key:
            kw["api_key"] = key
        elif not target.key_required:
            kw["api_key"] = "no-key-needed"
        if target.provider in ("gemini", "anthropic"):
            kw["client"] = self._http_client(timeout)
        elif target.provider == "openai" and "client" not in params:
            kw["client"] = self._openai_client(timeout, target.api_base, kw["api_key"]) if kw.get("api_key") \
                else None
            if kw["client"] is None:
                del kw["client"]
        kw.update(params)
        return kw

    def _one(self, target: ModelTarget, messages: list[dict], ctx: AgentContext, secrets: list[str],
             params: dict) -> Completion:
        litellm = litellm_module()
        kw = self._kwargs(target, messages, ctx, params)
        # The stream is read in a worker thread so that a hang never blocks cancel; the
        # caller's thread picks up what arrived at most every DELIVERY_INTERVAL seconds
        # (few wake-ups, so little GIL contention) and hands it to on_token.
        buf: list = []  # pieces of text; appended by the worker, drained here
        ready = threading.Event()
        stop = threading.Event()
        state: dict = {"finish": None, "usage": None, "end": None}
        wire = _Wire(target.provider)

        def produce() -> None:
            append, signal = buf.append, ready.set
            _TAP.wire = wire
            try:
                resp = litellm.completion(**kw)
                for chunk in resp:
                    if stop.is_set():
                        break
                    choices = chunk.choices
                    if choices:
                        c0 = choices[0]
                        piece = c0.delta.content
                        if piece:
                            append(piece)
                            signal()
                        if c0.finish_reason:
                            state["finish"] = c0.finish_reason
                    usage = getattr(chunk, "usage", None)
                    if usage is not None:
                        state["usage"] = usage
                state["end"] = _END
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                state["end"] = exc
            finally:
                _TAP.wire = None
            ready.set()

        start = time.monotonic()
        worker = threading.Thread(target=produce, name=f"model-{ctx.step}", daemon=True)
        worker.start()
        parts: list[str] = []
        on_token = ctx.on_token
        cancel = ctx.cancel
        read_timeout = _read_timeout(target, self.settings)
        idle_limit = read_timeout + self.settings.connect_timeout + 5.0
        last = time.monotonic()
        error: BaseException | None = None
        cancelled = False
        timed_out = False
        try:
            while True:
                if not ready.wait(0.1):
                    if cancel.is_set():
                        cancelled = True
                        break
                    if time.monotonic() - last > idle_limit:
                        timed_out = True
                        break
                    continue
                ready.clear()
                end = state["end"]  # read before draining: everything appended before the end is seen
                n = len(buf)
                if n:
                    piece = "".join(buf[:n])
                    del buf[:n]
                    parts.append(piece)
                    on_token(piece)
                    last = time.monotonic()
                if end is not None:
                    if end is not _END:
                        error = end
                    break
                if cancel.is_set():
                    cancelled = True
                    break
                if cancel.wait(DELIVERY_INTERVAL):
                    cancelled = True
                    break
        finally:
            stop.set()
        latency = time.monotonic() - start
        text = "".join(parts)
        usage = state["usage"]
        pt = getattr(usage, "prompt_tokens", None) if usage is not None else None
        ct = getattr(usage, "completion_tokens", None) if usage is not None else None

        if cancelled:
            self._record(ctx, target, pt, ct, None, latency, "cancelled", "cancelled by the user")
            raise _Attempt("cancelled", False, partial=text, cancelled=True)
        if timed_out:
            a = _Attempt(f"timed out (no reply within {read_timeout:g}s)", True, partial=text)
        elif wire.malformed is not None:
            a = _Attempt(f"malformed stream from {target.api_base or target.provider} ({wire.malformed})",
                         False, partial=text, malformed=True)
        elif error is not None:
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise error
            a = _classify(error, target, self.settings)
            a.partial = text
        elif wire.seen and wire.events == 0:
            a = _Attempt(f"malformed stream from {target.api_base or target.provider} (no event in the "
                         f"{target.provider} stream format)", False, malformed=True)
        elif wire.seen and not wire.ended:
            a = _Attempt(f"the stream ended without its end marker ({wire.marker})", True,
                         partial=text, incomplete=True)
        elif state["finish"] in ("length", "max_tokens", "MAX_TOKENS"):  # LiteLLM says "length"
            a = _Attempt(f"the reply hit the output limit (finish_reason {state['finish']}, "
                         f"max_tokens {self.settings.max_tokens})", True, partial=text, incomplete=True)
        elif state["finish"] is None or (not text and usage is None):
            if text:
                a = _Attempt("the stream ended before the model finished", False, partial=text)
            else:
                a = _Attempt(f"the reply from {target.api_base or target.provider} was not a readable "
                             f"{target.provider} stream (not JSON?)", False)
        else:
            cost = self._cost(litellm, target, pt, ct)
            self._record(ctx, target, pt, ct, cost, latency, "ok", None)
            return Completion(text=text, target=target, prompt_tokens=pt, completion_tokens=ct, cost=cost,
                              latency_s=latency, attempts=1, finish_reason=state["finish"])
        a.cause = redact(a.cause, secrets)
        outcome = "incomplete" if (a.partial or a.incomplete) and not a.malformed else "error"
        # A call that failed with nothing generated is not billed: it costs 0, not "unknown".
        cost = 0.0 if not text.strip() and not ct else self._cost(litellm, target, pt, ct)
        self._record(ctx, target, pt, ct, cost, latency, outcome, a.cause)
        raise a

    @staticmethod
    def _cost(litellm, target: ModelTarget, pt: int | None, ct: int | None) -> float | None:
        """LiteLLM's completion_cost; None when the price is unknown (never 0 for unknown)."""
        if pt is None and ct is None:
            return None
        try:
            import warnings

            from litellm.types.utils import ModelResponse, Usage

            resp = ModelResponse(model=target.model.split("/", 1)[-1])
            resp.usage = Usage(prompt_tokens=pt or 0, completion_tokens=ct or 0,
                               total_tokens=(pt or 0) + (ct or 0))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cost = litellm.completion_cost(completion_response=resp, model=target.model)
        except Exception:  # noqa: BLE001 - an unmapped model has no known price
            return None
        if cost is None:
            return None
        return float(cost)

    def _record(self, ctx: AgentContext, target: ModelTarget, pt, ct, cost, latency, outcome, error) -> None:
        if self.store is None:
            return
        try:
            self.store.record_model_call(ctx.session_id, ctx.step, target.model, pt, ct, cost,
                                         round(latency, 4), outcome, error)
        except Exception:
            logging.getLogger("workbench.llm").debug("could not record a model call", exc_info=True)
