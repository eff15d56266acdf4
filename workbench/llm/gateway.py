"""The gateway: the only module that imports LiteLLM, and only lazily.

Every model call streams, can be cancelled, has connect and read timeouts, retries
429/5xx/timeouts with backoff that honours `Retry-After`, walks the alias's fallback
chain, tags the request with `X-Workbench-Step` and `X-Workbench-Session`, and is
recorded through the store (tokens, cost or None when the price is unknown, latency,
outcome). A stream that dies midway raises `ModelIncomplete` carrying its partial text
(marked incomplete; nothing is applied). Every failure is one `ModelError` line naming
the model and the cause, with any key redacted.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from workbench.errors import WorkbenchError
from workbench.llm.base import AgentContext
from workbench.llm.registry import PROVIDER_KEY_ENVS, ModelTarget

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


class _Attempt(Exception):
    """One failed attempt (internal)."""

    def __init__(self, cause: str, retryable: bool, retry_after: float | None = None,
                 partial: str = "", cancelled: bool = False):
        super().__init__(cause)
        self.cause = cause
        self.retryable = retryable
        self.retry_after = retry_after
        self.partial = partial
        self.cancelled = cancelled


_KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)(api[_-]?key|x-api-key|x-goog-api-key|authorization|bearer)([\"'=:\s]+)[^\s\"',&}]+"),
    re.compile(r"(?i)([?&]key=)[^&\s\"']+"),
]


def secret_values(target: ModelTarget | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    names = {n for ns in PROVIDER_KEY_ENVS.values() for n in ns}
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
        return _Attempt(f"timed out (no reply within {settings.read_timeout:g}s)", True)
    if status == 429:
        return _Attempt("rate limited (HTTP 429)", True, retry_after)
    if status in (401, 403) or "AuthenticationError" in names:
        return _Attempt(f"authentication failed (HTTP {status or 401}): check {target.api_key_env or 'the API key'}",
                        False)
    if status == 404 or "NotFoundError" in names:
        return _Attempt(f"model not found (HTTP 404) at {target.api_base or target.provider}", False)
    if "disconnected" in low or "connection error" in low or "connect" in low and "refused" in low \
            or "APIConnectionError" in names and status in (None, 500):
        where = target.api_base or target.provider
        return _Attempt(f"connection failed to {where}: {_detail(text)}", True)
    if status is not None and status >= 500:
        return _Attempt(f"server error (HTTP {status}): {_detail(text)}", True, retry_after)
    if status is not None and 400 <= status < 500:
        return _Attempt(f"request rejected (HTTP {status}): {_detail(text)}", False)
    return _Attempt(f"{type(inner).__name__}: {_detail(text)}", False)


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
        attempts_total = 0
        for target in targets:
            if not target.usable(self.env):
                failures.append(f"model {target.label}: no API key (set {target.api_key_env or 'its api_key_env'})")
                continue
            secrets = secret_values(target, self.env)
            attempt = 0
            while True:
                attempt += 1
                attempts_total += 1
                try:
                    result = self._one(target, messages, ctx, secrets, params)
                    result.attempts = attempts_total
                    return result
                except _Attempt as a:
                    cause = redact(a.cause, secrets)
                    if a.cancelled:
                        raise ModelCancelled(f"model {target.label}: cancelled", model=target.model,
                                             cause="cancelled", partial=a.partial) from None
                    if a.partial:
                        raise ModelIncomplete(
                            f"model {target.label}: the reply stopped midway ({cause}); "
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
                        if self._sleep(wait, ctx.cancel) or ctx.cancel.is_set():
                            raise ModelCancelled(f"model {target.label}: cancelled", model=target.model,
                                                 cause="cancelled") from None
                        continue
                    tries = f" after {attempt} attempts" if attempt > 1 else ""
                    failures.append(f"model {target.label}: {cause}{tries}")
                    break
        message = failures[0] if len(failures) == 1 else (
            failures[0] + "; fallbacks failed too: " + "; ".join(f.removeprefix("model ") for f in failures[1:]))
        first = targets[0]
        raise ModelError(message, model=first.model, cause=message)

    def stream_text(self, chain, messages, ctx: AgentContext, **params) -> str:
        return self.complete(chain, messages, ctx, **params).text

    # -- one attempt -----------------------------------------------------------
    def _http_client(self, timeout):
        """An httpx-backed client with our timeouts (Gemini streaming ignores `timeout`)."""
        key = (timeout.connect, timeout.read)
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                from litellm.llms.custom_httpx.http_handler import HTTPHandler

                client = HTTPHandler(timeout=timeout)
                self._clients[key] = client
            return client

    def _kwargs(self, target: ModelTarget, messages: list[dict], ctx: AgentContext, params: dict) -> dict:
        import httpx

        s = self.settings
        timeout = httpx.Timeout(s.read_timeout, connect=s.connect_timeout)
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
        if target.provider == "gemini":
            kw["client"] = self._http_client(timeout)
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

        def produce() -> None:
            append, signal = buf.append, ready.set
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
            ready.set()

        start = time.monotonic()
        worker = threading.Thread(target=produce, name=f"model-{ctx.step}", daemon=True)
        worker.start()
        parts: list[str] = []
        on_token = ctx.on_token
        cancel = ctx.cancel
        idle_limit = self.settings.read_timeout + self.settings.connect_timeout + 5.0
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
            a = _Attempt(f"timed out (no reply within {self.settings.read_timeout:g}s)", True, partial=text)
        elif error is not None:
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise error
            a = _classify(error, target, self.settings)
            a.partial = text
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
        outcome = "incomplete" if a.partial else "error"
        self._record(ctx, target, pt, ct, None, latency, outcome, a.cause)
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
