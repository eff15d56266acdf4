"""A loopback LLM server for tests: OpenAI, Anthropic and Gemini over real HTTP.

It speaks
- OpenAI chat completions      POST .../chat/completions             (stream or not)
- Anthropic messages           POST .../v1/messages                  (stream or not)
- Gemini generateContent       POST .../models/M:generateContent
  and streamGenerateContent    POST .../models/M:streamGenerateContent[?alt=sse]

Use it with LiteLLM ids `openai/…`, `anthropic/…` and `gemini/…` and `api_base=srv.url`
(see `LoopbackLLM.api_base`). Replies come from a FIFO script, then from an optional
responder function, else a 500 saying the script ran out::

    with LoopbackLLM() as srv:
        srv.script(["hello", Reply(status=429, retry_after=1), Reply(fault="truncate", text="partial")])
        ... call with api_base=srv.url ...
        assert srv.requests[0].headers["x-workbench-step"] == "spec"

Every request is recorded (`srv.requests`: provider, path, query, headers, body).
Streams use chunked transfer encoding, so a truncated stream is a real protocol error
on the client side. Only the standard library is used.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FAULTS = ("hang", "truncate", "non_json", "reset", "cut", "malformed")


@dataclass
class Reply:
    """One scripted answer.

    text: the assistant's reply (streamed in `chunk_tokens`-token pieces when the
          client asks for a stream).
    status: HTTP status; non-2xx sends a provider-shaped error body.
    retry_after: seconds, sent as a Retry-After header (with 429/5xx).
    fault: "hang" (sleep `hang_s` before answering), "truncate" (send about half the
           stream, or half the body, then drop the connection), "non_json" (a 200
           whose body is HTML), "reset" (close without answering), "cut" (a stream
           that ends cleanly after `cut_at` of its text, without the provider's end
           marker: no finish_reason, message_stop or finishReason), "malformed" (a stream
           in the wrong shape: Anthropic without message_start ending in `[DONE]`,
           OpenAI and Gemini data lines that are not JSON).
    """

    text: str = ""
    status: int = 200
    retry_after: float | None = None
    fault: str | None = None
    hang_s: float = 30.0
    delay_s: float = 0.0
    chunk_tokens: int = 1
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "scripted error"
    cut_at: float = 0.5  # "cut": the share of the text sent before the stream ends
    finish: str = "stop"  # "length": the provider says the reply hit its max-token limit

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r} (expected one of {FAULTS})")


@dataclass
class Request:
    """One request as it reached the wire."""

    provider: str  # openai | anthropic | gemini | unknown
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: dict | None
    raw: bytes
    stream: bool
    model: str

    @property
    def step(self) -> str | None:
        return self.headers.get("x-workbench-step")

    @property
    def session(self) -> str | None:
        return self.headers.get("x-workbench-session")

    def prompt_text(self) -> str:
        """All the text of the prompt (system and messages), joined by newlines."""
        b = self.body or {}
        parts: list[str] = []

        def add(content):
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                for c in content:
                    if isinstance(c, dict):
                        add(c.get("text") or c.get("content"))
                    else:
                        add(c)
            elif isinstance(content, dict):
                add(content.get("text") or content.get("parts") or content.get("content"))

        if self.provider == "gemini":
            add((b.get("system_instruction") or b.get("systemInstruction") or {}).get("parts"))
            for c in b.get("contents", []):
                add(c.get("parts"))
        else:
            add(b.get("system"))
            for m in b.get("messages", []):
                add(m.get("content"))
        return "\n".join(p for p in parts if p)

    def last_user_text(self) -> str:
        b = self.body or {}
        if self.provider == "gemini":
            for c in reversed(b.get("contents", [])):
                if c.get("role", "user") == "user":
                    return "\n".join(p.get("text", "") for p in c.get("parts", []))
            return ""
        for m in reversed(b.get("messages", [])):
            if m.get("role") == "user":
                c = m.get("content")
                if isinstance(c, list):
                    return "\n".join(x.get("text", "") for x in c if isinstance(x, dict))
                return c or ""
        return ""


def split_tokens(text: str) -> list[str]:
    """A reply split into word-ish 'tokens' (whitespace kept), never losing a character."""
    return re.findall(r"\s*\S+|\s+", text) or ([text] if text else [])


def _stop(reply: Reply, provider: str) -> str:
    """The provider's own word for why the reply ended (Reply.finish: stop or length)."""
    words = {"openai": ("stop", "length"), "anthropic": ("end_turn", "max_tokens"), "gemini": ("STOP", "MAX_TOKENS")}
    return words[provider][reply.finish == "length"]


def _count(text: str) -> int:
    return max(1, len(split_tokens(text))) if text else 0


Responder = Callable[[Request], "Reply | str"]


class LoopbackLLM:
    """A threaded HTTP server on 127.0.0.1 at a random port."""

    def __init__(self, responder: Responder | None = None):
        self.responder = responder
        self.requests: list[Request] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> LoopbackLLM:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="loopback-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- configuration ---------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_base(self, provider: str = "openai") -> str:
        """The `api_base` to give LiteLLM for a provider's ids."""
        return self.url + ("/v1" if provider == "openai" else "")

    def script(self, replies: list[Reply | str]) -> LoopbackLLM:
        """Queue replies (a str is a plain successful reply); answered in order."""
        with self._lock:
            for r in replies:
                self._script.append(Reply(text=r) if isinstance(r, str) else r)
        return self

    def clear(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def requests_for(self, provider: str | None = None, step: str | None = None) -> list[Request]:
        return [r for r in list(self.requests)
                if (provider is None or r.provider == provider) and (step is None or r.step == step)]

    def _next_reply(self, req: Request) -> Reply:
        with self._lock:
            self.requests.append(req)
            if self._script:
                return self._script.popleft()
        if self.responder is not None:
            r = self.responder(req)
            return Reply(text=r) if isinstance(r, str) else r
        return Reply(status=500, error_message="loopback: no scripted reply left")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients hanging up is part of the tests
        pass


class _Handler(BaseHTTPRequestHandler):
    server_owner: LoopbackLLM
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet
        pass

    # -- request parsing -------------------------------------------------------
    def do_GET(self):
        self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        provider, stream, model = "unknown", False, ""
        if path.endswith("/chat/completions"):
            provider = "openai"
            stream = bool((body or {}).get("stream"))
            model = (body or {}).get("model", "")
        elif path.endswith("/messages"):
            provider = "anthropic"
            stream = bool((body or {}).get("stream"))
            model = (body or {}).get("model", "")
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            provider = "gemini"
            stream = ":streamGenerateContent" in path
            m = re.search(r"models/([^/:]+):", path)
            model = m.group(1) if m else ""
        req = Request(provider, "POST", path, query, {k.lower(): v for k, v in self.headers.items()},
                      body, raw, stream, model)
        owner = self.server_owner
        reply = owner._next_reply(req)
        try:
            self._answer(req, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- answering -------------------------------------------------------------
    def _answer(self, req: Request, reply: Reply) -> None:
        stop = self.server_owner._stop
        if reply.delay_s:
            stop.wait(reply.delay_s)
        if reply.fault == "hang":
            stop.wait(reply.hang_s)
            self.close_connection = True
            return
        if reply.fault == "reset":
            self.close_connection = True
            return
        if reply.fault == "non_json":
            self._send_raw(200, b"<html><body>502 Bad Gateway (upstream said no)</body></html>",
                           "text/html", reply)
            return
        if reply.status >= 400:
            self._send_error(req, reply)
            return
        if req.stream:
            self._send_stream(req, reply)
        else:
            self._send_whole(req, reply)

    def _headers(self, reply: Reply) -> None:
        if reply.retry_after is not None:
            self.send_header("Retry-After", f"{reply.retry_after:g}")
        for k, v in reply.headers.items():
            self.send_header(k, v)

    def _send_raw(self, status: int, data: bytes, ctype: str, reply: Reply, truncate: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self._headers(reply)
        self.end_headers()
        if truncate:
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(data)

    def _send_json(self, status: int, obj: dict, reply: Reply | None = None, truncate: bool = False) -> None:
        self._send_raw(status, json.dumps(obj).encode(), "application/json", reply or Reply(), truncate)

    def _send_error(self, req: Request, reply: Reply) -> None:
        msg = reply.error_message
        if req.provider == "anthropic":
            kind = "rate_limit_error" if reply.status == 429 else "api_error"
            body = {"type": "error", "error": {"type": kind, "message": msg}}
        elif req.provider == "gemini":
            body = {"error": {"code": reply.status, "message": msg,
                              "status": "RESOURCE_EXHAUSTED" if reply.status == 429 else "INTERNAL"}}
        else:
            body = {"error": {"message": msg, "type": "rate_limit" if reply.status == 429 else "server_error",
                              "code": None}}
        self._send_json(reply.status, body, reply)

    def _usage(self, req: Request, reply: Reply) -> tuple[int, int]:
        pt = reply.prompt_tokens if reply.prompt_tokens is not None else _count(req.prompt_text())
        ct = reply.completion_tokens if reply.completion_tokens is not None else _count(reply.text)
        return pt, ct

    def _send_whole(self, req: Request, reply: Reply) -> None:
        pt, ct = self._usage(req, reply)
        text = reply.text
        if req.provider == "anthropic":
            body = {"id": "msg_loopback", "type": "message", "role": "assistant", "model": req.model,
                    "content": [{"type": "text", "text": text}], "stop_reason": _stop(reply, "anthropic"),
                    "stop_sequence": None, "usage": {"input_tokens": pt, "output_tokens": ct}}
        elif req.provider == "gemini":
            body = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                                    "finishReason": _stop(reply, "gemini"), "index": 0}],
                    "usageMetadata": {"promptTokenCount": pt, "candidatesTokenCount": ct,
                                      "totalTokenCount": pt + ct},
                    "modelVersion": req.model}
        else:
            body = {"id": "chatcmpl-loopback", "object": "chat.completion", "created": int(time.time()),
                    "model": req.model or "loopback",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": _stop(reply, "openai")}],
                    "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}}
        self._send_json(200, body, reply, truncate=reply.fault == "truncate")

    def _events(self, req: Request, reply: Reply) -> list[bytes]:
        if reply.fault == "cut":  # the text up to cut_at, then a clean end with no end marker
            toks = split_tokens(reply.text)
            kept = Reply(text="".join(toks[: int(len(toks) * reply.cut_at)]), chunk_tokens=reply.chunk_tokens)
            events = self._full_events(req, kept)
            if req.provider == "anthropic":
                return events[:-3]  # no content_block_stop, message_delta, message_stop
            if req.provider == "gemini":
                last = json.loads(events[-1][len(b"data: "):])
                del last["candidates"][0]["finishReason"]
                return events[:-1] + [f"data: {json.dumps(last)}\r\n\r\n".encode()]
            return events[:-3]  # no finish_reason chunk, no usage, no [DONE]
        if reply.fault == "malformed":
            events = self._full_events(req, reply)
            if req.provider == "anthropic":
                return events[1:-1] + [b"data: [DONE]\n\n"]
            if req.provider == "gemini":
                return [b"data: <candidates>" + e[len(b"data: "):] for e in events]
            return [b"data: {not json " + e[len(b"data: {"):] for e in events[:-1]] + [events[-1]]
        return self._full_events(req, reply)

    def _full_events(self, req: Request, reply: Reply) -> list[bytes]:
        pt, ct = self._usage(req, reply)
        toks = split_tokens(reply.text)
        n = max(1, reply.chunk_tokens)
        pieces = ["".join(toks[i: i + n]) for i in range(0, len(toks), n)]
        out: list[bytes] = []
        if req.provider == "anthropic":
            def ev(name: str, obj: dict) -> bytes:
                return f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()

            out.append(ev("message_start", {"type": "message_start", "message": {
                "id": "msg_loopback", "type": "message", "role": "assistant", "model": req.model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": pt, "output_tokens": 1}}}))
            out.append(ev("content_block_start", {"type": "content_block_start", "index": 0,
                                                  "content_block": {"type": "text", "text": ""}}))
            for p in pieces:
                out.append(ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                      "delta": {"type": "text_delta", "text": p}}))
            out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
            out.append(ev("message_delta", {"type": "message_delta",
                                            "delta": {"stop_reason": _stop(reply, "anthropic"), "stop_sequence": None},
                                            "usage": {"output_tokens": ct}}))
            out.append(ev("message_stop", {"type": "message_stop"}))
        elif req.provider == "gemini":
            for i, p in enumerate(pieces or [""]):
                last = i == max(0, len(pieces) - 1)
                cand = {"content": {"parts": [{"text": p}], "role": "model"}, "index": 0}
                obj: dict = {"candidates": [cand], "modelVersion": req.model}
                if last:
                    cand["finishReason"] = _stop(reply, "gemini")
                    obj["usageMetadata"] = {"promptTokenCount": pt, "candidatesTokenCount": ct,
                                            "totalTokenCount": pt + ct}
                out.append(f"data: {json.dumps(obj)}\r\n\r\n".encode())
        else:
            base = {"id": "chatcmpl-loopback", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": req.model or "loopback"}
            first = True
            for p in pieces:
                delta = {"content": p}
                if first:
                    delta["role"] = "assistant"
                    first = False
                out.append(b"data: " + json.dumps({**base, "choices": [
                    {"index": 0, "delta": delta, "finish_reason": None}]}).encode() + b"\n\n")
            out.append(b"data: " + json.dumps({**base, "choices": [
                {"index": 0, "delta": {}, "finish_reason": _stop(reply, "openai")}]}).encode() + b"\n\n")
            out.append(b"data: " + json.dumps({**base, "choices": [], "usage": {
                "prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}}).encode() + b"\n\n")
            out.append(b"data: [DONE]\n\n")
        return out

    def _send_stream(self, req: Request, reply: Reply) -> None:
        events = self._events(req, reply)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._headers(reply)
        self.end_headers()
        cut = len(events) // 2 if reply.fault == "truncate" else None
        buf: list[bytes] = []
        size = 0
        w = self.wfile
        for i, e in enumerate(events):
            if cut is not None and i >= cut:
                break
            buf.append(e)
            size += len(e)
            if size >= 512 or i == len(events) - 1:
                data = b"".join(buf)
                w.write(b"%x\r\n%s\r\n" % (len(data), data))
                buf, size = [], 0
        if cut is not None:
            if buf:
                data = b"".join(buf)
                w.write(b"%x\r\n%s\r\n" % (len(data), data))
            # Drop the connection without the terminating chunk: a stream that dies midway.
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        w.write(b"0\r\n\r\n")


# -- a responder that plays a whole lifecycle -------------------------------------------------

DEFAULT_SPEC = """\
---
name: csv2json
summary: Convert CSV files to JSON
template: python-cli
version: 0.1.0
license: MIT
commands:
  - name: convert
    summary: Convert one CSV file to JSON
    arguments:
      - name: input
        type: path
        help: CSV file to read
    options:
      - name: indent
        type: int
        default: 2
        help: Spaces of indentation
dependencies: []
integrations:
  github_actions: true
  circleci: false
  devcontainer: true
---
# csv2json

## Overview

Reads a CSV file and prints it as a JSON array of objects.

## Requirements

- `convert INPUT` prints the rows of INPUT as JSON, indented by `--indent` spaces.
- A missing file is an error with exit code 1.

## Acceptance criteria

- `csv2json convert data.csv` prints valid JSON.
"""

_FILE_BLOCK_RE = re.compile(r"^<<<FILE[ \t]+(.+?)[ \t]*>>>[ \t]*\n(.*?)^<<<END>>>[ \t]*$", re.DOTALL | re.MULTILINE)


def _revise_default(spec_text: str) -> str:
    return spec_text.rstrip("\n") + "\n\n- The tool writes to --output PATH when given (from the review).\n"


def lifecycle_responder(spec: str = DEFAULT_SPEC, findings: list[dict] | None = None,
                        files: Callable[[dict[str, str]], dict[str, str]] | None = None,
                        revise: Callable[[str], str] = _revise_default) -> Responder:
    """Answer each agent step by its X-Workbench-Step header, so a whole lifecycle runs:

    analysis -> Markdown; spec -> `spec` (in a code fence, with prose around it);
    spec, asked to apply a finding -> `revise(current spec)`, fenced;
    review -> findings JSON; implementation/tests -> the model-owned files given in the
    prompt, passed through `files(current) -> new` (default: unchanged) as file blocks;
    anything else -> a short plain reply.
    """
    if findings is None:
        findings = [{"severity": "info", "location": "commands[0]",
                     "text": "Consider an --output option.", "suggestion": "Add --output PATH."}]

    def respond(req: Request) -> Reply:
        step = req.step or ""
        if step == "analysis":
            return Reply(text="## Request, restated\n\nA CSV to JSON converter.\n\n## Assumptions\n\n"
                              "- UTF-8 input.\n\n## Clarifying questions\n\n- Which delimiter?\n")
        if step == "spec" and "The finding to apply" in req.prompt_text():  # also on a re-ask
            current = req.prompt_text().split("The current spec.md:\n\n", 1)[1]
            current = current.split("\n\nThe finding to apply", 1)[0]
            return Reply(text=f"Revised:\n\n```markdown\n{revise(current)}```\n")
        if step == "spec":
            return Reply(text=f"Here is the spec:\n\n```markdown\n{spec}```\n")
        if step == "review":
            return Reply(text=json.dumps({"findings": findings}))
        if step in ("implementation", "tests"):
            current = {m.group(1).strip(): m.group(2) for m in _FILE_BLOCK_RE.finditer(req.last_user_text())}
            new = files(current) if files else current
            return Reply(text="".join(f"<<<FILE {p}>>>\n{c if c.endswith(chr(10)) or not c else c + chr(10)}"
                                      f"<<<END>>>\n" for p, c in new.items()))
        return Reply(text="Set up as planned.")

    return respond
