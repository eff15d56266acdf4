"""A stand-in engine and store that follow the documented API exactly.

They let the UI tests and snapshots run deterministically and quickly, and let
the UI be exercised before (and independently of) the real engine. Tests that
need the real engine are marked `needs_engine` in conftest.py.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import UsageError
from workbench.lifecycle import events as K
from workbench.lifecycle.common import Outcome
from workbench.lifecycle.steps import BY_ID, STEP_IDS
from workbench.llm.base import AgentContext, Finding

FIXED_TS = "2026-01-02T03:04:05+00:00"


@dataclass
class FakePlannedFile:
    path: str
    content: str
    step: str
    origin: str
    model_owned: bool = False
    mode: int = 0o644


@dataclass
class FakePlan:
    files: dict[str, FakePlannedFile] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(len(f.content.encode()) for f in self.files.values())

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for p in sorted(self.files):
            h.update(p.encode() + b"\0" + self.files[p].content.encode() + b"\0")
        return h.hexdigest()


class FakeStore:
    """In memory: audit events (newest first, with the pane's filters), and the sessions the
    fake engine runs, read back as the session service reads the real store."""

    def __init__(self, path: Path | None = None):
        self.events: list[dict[str, Any]] = []
        self.sessions: dict[str, dict[str, Any]] = {}  # the fake engine's state, per session
        self.lock = threading.Lock()

    def add(self, actor: str, action: str, step: str | None, message: str = "", session: str = "",
            **data: Any) -> None:
        with self.lock:
            self.events.append({"id": len(self.events) + 1, "ts": FIXED_TS, "actor": actor,
                                "step": step, "action": action, "message": message, "data": data,
                                "session_id": session})

    def list_events(self, limit=100, before_id=None, actor=None, step=None, session=None):
        with self.lock:
            rows = [e for e in reversed(self.events)
                    if (actor is None or actor.lower() in e["actor"].lower())
                    and (step is None or e["step"] == step)
                    and (session is None or e["session_id"] in ("", session))
                    and (before_id is None or e["id"] < before_id)]
        return rows[:limit]

    # -- what the session service reads -------------------------------------------------
    def get_session(self, sid):
        s = self.sessions.get(sid)
        if s is None:
            return None
        return {"id": sid, "request": s["request"], "out_dir": str(s["out_dir"]), "template": None,
                "model": s["model"], "status": s.get("status", "running"), "current_step": None}

    def find_sessions(self, prefix):
        return [sid for sid in self.sessions if sid.startswith(prefix)]

    def list_sessions(self, limit=20):
        return [self.get_session(sid) for sid in reversed(self.sessions)][:limit]

    def get_spec_version(self, sid):
        versions = self.list_spec_versions(sid)
        return versions[-1] if versions else None

    def list_spec_versions(self, sid):
        return [{"version": n, "text": t, "sha256": hashlib.sha256(t.encode()).hexdigest()}
                for n, t in enumerate(self.sessions[sid].get("versions", []), 1)]

    def get_output(self, sid, step, kind):
        return self.sessions[sid].get("draft") if (step, kind) == ("spec", "draft") else None

    def get_approval(self, sid, gate):
        return self.sessions[sid].get("approvals", {}).get(gate)

    def list_model_calls(self, sid=None):
        return list(self.sessions.get(sid, {}).get("calls", []))

    def set_step(self, sid, step, status, message=""):
        s = self.sessions[sid]
        if step == "spec" and status == "done":
            s["pos"] = max(s["pos"], STEP_IDS.index("review"))


class FakeEngine:
    """Runs the sixteen steps with the given provider's agents, emitting the events the
    real engine emits; its state lives in the FakeStore, so that every engine the session
    service makes for a session sees the same session. `tests/ui/test_protocol.py` checks
    it against the Protocol the UI uses (`workbench.ui.backend.UIEngine`)."""

    def __init__(self, store: FakeStore, provider: Any, on_event, options: Any = None, *,
                 token_delay: float = 0.0, chunk: int = 0):
        self.store = store
        self.provider = provider
        self.on_event = on_event
        self.options = options
        self.token_delay = token_delay
        self.chunk = chunk
        self.cancel = threading.Event()
        self.calls: list[tuple] = []

    @property
    def cancelled(self) -> threading.Event:
        return self.cancel

    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        return self.store.sessions

    def close(self) -> None:
        pass

    def _emit(self, kind: str, sid: str, step: str | None, message: str = "", **data: Any) -> None:
        self.on_event(K.make(kind, sid, step, message, **data))

    def _states(self, sid: str, before: dict[str, str]) -> None:
        """status_changed for every step whose state changed, as the real engine says it."""
        for step, state in self.status(sid).items():
            if before.get(step) != state:
                self._emit(K.STATUS_CHANGED, sid, step, "", status=state)

    def start(self, request, out_dir, spec_text=None, template=None, model=None,
              spec_source="spec.md", read_context=None) -> str:
        sid = f"s{len(self.sessions) + 1}"
        self.sessions[sid] = {"request": request, "out_dir": Path(out_dir), "spec": spec_text,
                              "pos": 0, "approved": set(), "plan": FakePlan(), "model": model,
                              "versions": [], "approvals": {}, "calls": []}
        self.calls.append(("start", request))
        self.store.add("human", "request", "request", request, session=sid)
        self._states(sid, {})
        return sid

    def _tokens(self, sid: str, step: str):
        def on_token(text: str) -> None:
            if self.chunk:
                for i in range(0, len(text), self.chunk):
                    if self.cancel.is_set():
                        return
                    self._emit(K.TOKEN, sid, step, text[i:i + self.chunk])
                    if self.token_delay:
                        time.sleep(self.token_delay)
            else:
                self._emit(K.TOKEN, sid, step, text)
        return AgentContext(sid, step, on_token=on_token, cancel=self.cancel)

    ctx = _tokens

    def _set_spec(self, sid: str, text: str, source: str) -> dict[str, Any]:
        s = self.sessions[sid]
        s["spec"] = text
        if not s["versions"] or s["versions"][-1] != text:
            s["versions"].append(text)
            self._emit(K.SPEC_VERSION_ADDED, sid, "spec", f"spec v{len(s['versions'])}",
                       version=len(s["versions"]), source=source,
                       sha256=hashlib.sha256(text.encode()).hexdigest())
        return self.store.get_spec_version(sid)

    def run(self, sid, until=None):
        s = self.sessions[sid]
        self.calls.append(("run", until))
        while s["pos"] < len(STEP_IDS):
            step = STEP_IDS[s["pos"]]
            meta = BY_ID[step]
            if meta.gate and meta.gate not in s["approved"]:
                before = self.status(sid)
                if step == "approval":
                    self._emit(K.STEP_STARTED, sid, step)
                s["waiting"] = True
                self._states(sid, before)
                sha = self.gate_sha(sid, meta.gate)
                self._emit(K.GATE, sid, step, f"waiting for approval ({meta.gate})",
                           gate=meta.gate, sha256=sha)
                self.store.add("engine", "gate", step, f"waiting for {meta.gate} approval",
                               session=sid)
                return Outcome("gate", sid, step, gate=meta.gate, sha256=sha)
            s["waiting"] = False
            s["running"] = step
            self._emit(K.STATUS_CHANGED, sid, step, "", status="running")
            if step != "approval":
                self._emit(K.STEP_STARTED, sid, step)
            agents = self.provider.for_step(step)
            data: dict[str, Any] = {}
            if step == "analysis":
                s["analysis"] = agents.analyse(self._tokens(sid, step), s["request"], "")
            elif step == "spec":
                text = s["spec"] or agents.draft_spec(self._tokens(sid, step),
                                                      s["request"], s.get("analysis", ""), [])
                s.setdefault("draft", text)
                self._set_spec(sid, text, "draft")
                data["spec_text"] = text
            elif step == "review":
                findings = agents.review(self._tokens(sid, step), s["spec"])
                data["findings"] = [f.as_dict() for f in findings]
                s["findings"] = data["findings"]
            elif step in ("structure", "dependencies", "configuration", "tests", "docs"):
                self._plan_step(s, step)
            s["running"] = None
            s["pos"] += 1
            self._emit(K.STATUS_CHANGED, sid, step, "", status="done")
            if step == "review":
                found = self.findings(sid)
                self._emit(K.FINDINGS_CHANGED, sid, "review", "", total=len(found),
                           open=sum(1 for f in found if f["status"] == "open"))
            self._emit(K.STEP_DONE, sid, step, f"{meta.title} done", **data)
            self.store.add(meta.actor, "step_done", step, f"{meta.title} done", session=sid)
            if until is not None and step == until:
                return Outcome("paused", sid, step)
        s["status"] = "done"
        self._emit(K.FINISHED, sid, None, "The lifecycle is complete.")
        return Outcome("done", sid)

    def _plan_step(self, s: dict[str, Any], step: str) -> None:
        from workbench.spec import parse_spec

        name = parse_spec(s["spec"]).name
        files = {
            "structure": {f"src/{name.replace('-', '_')}/__init__.py": (f'"""{name}"""\n', False),
                          f"src/{name.replace('-', '_')}/cli.py": ("def main():\n    return 0\n", True)},
            "dependencies": {"pyproject.toml": (f'[project]\nname = "{name}"\nversion = "0.1.0"\n', False)},
            "configuration": {".gitignore": ("__pycache__/\n.venv/\n", False)},
            "tests": {"tests/test_cli.py": ("def test_main():\n    assert True\n", True)},
            "docs": {"README.md": (f"# {name}\n", False), "docs/spec.md": (s["spec"], False)},
        }[step]
        for path, (content, owned) in files.items():
            s["plan"].files[path] = FakePlannedFile(path, content, step, "template", owned)

    def gate_sha(self, sid, gate):
        s = self.sessions[sid]
        if gate == "spec":
            return hashlib.sha256(s["spec"].encode()).hexdigest() if s["spec"] else None
        return s["plan"].sha256 if s["plan"].files else None

    def is_approved(self, sid, gate):
        return gate in self.sessions[sid]["approved"]

    def approve(self, sid, gate, sha256, actor=None):
        s = self.sessions[sid]
        if sha256 != self.gate_sha(sid, gate):
            raise UsageError(f"{gate}: the hash does not match the current version")
        before = self.status(sid)
        s["approved"].add(gate)
        s["approvals"][gate] = {"sha256": sha256}
        step = "approval" if gate == "spec" else "docs"
        self.store.add("human", "approve", step, f"approved {gate} {sha256[:12]}", session=sid)
        if gate == "plan":
            out: Path = s["out_dir"]
            for path, pf in s["plan"].files.items():
                target = out / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(pf.content)
            s["applied"] = True
        s["pos"] = STEP_IDS.index(step) + 1
        s["waiting"] = False
        self._states(sid, before)
        self._emit(K.APPROVED, sid, step, f"approved {gate}", gate=gate, sha256=sha256,
                   actor=actor or "human")
        self._emit(K.STEP_DONE, sid, step, "approved" if gate == "spec" else "applied")
        self.calls.append(("approve", gate))

    def step_back(self, sid, step):
        s = self.sessions[sid]
        before = self.status(sid)
        s["pos"] = min(s["pos"], STEP_IDS.index(step))
        s["waiting"] = False
        s["approved"] = {g for g in s["approved"]
                         if STEP_IDS.index("approval" if g == "spec" else "docs") < s["pos"]}
        self.calls.append(("step_back", step))
        self._states(sid, before)
        self._emit(K.STEPPED_BACK, sid, step, f"stepped back to {step}")

    def rerun(self, sid, step):
        self.step_back(sid, step)
        self.calls.append(("rerun", step))
        return self.run(sid, until=step)

    def save_spec_edit(self, sid, text, actor=None):
        s = self.sessions[sid]
        if s["spec"] == text:
            return self.store.get_spec_version(sid)
        before = self.status(sid)
        version = self._set_spec(sid, text, "edit")
        if s["pos"] > STEP_IDS.index("review"):
            s["pos"] = STEP_IDS.index("review")
            s["approved"].discard("spec")
        s["waiting"] = False
        self.calls.append(("save", len(text)))
        self.store.add("human", "spec_edit", "spec", f"{len(text.splitlines())} lines", session=sid)
        self._states(sid, before)
        return version

    def status(self, sid):
        s = self.sessions[sid]
        out = {}
        for i, step in enumerate(STEP_IDS):
            if i < s["pos"]:
                out[step] = "done"
            elif i == s["pos"] and s.get("running") == step:
                out[step] = "running"
            elif i == s["pos"] and s.get("waiting"):
                out[step] = "waiting"
            else:
                out[step] = "pending"
        return out

    def status_messages(self, sid):
        return {step: "" for step in STEP_IDS}

    def switch_model(self, sid, provider, model, step=None, actor=None):
        self.provider = provider
        self.store.add(actor or "human", "model_switch", step, f"switched {step or 'the session'} to {model}",
                       session=sid)

    def reject(self, sid, gate, reason="", actor=None):
        step = "approval" if gate == "spec" else "docs"
        self.store.add(actor or "human", "reject", step, reason, session=sid)
        self.step_back(sid, "spec" if gate == "spec" else "implementation")
        self._emit(K.REJECTED, sid, step, f"rejected at the {gate} gate", gate=gate, reason=reason)

    def plan(self, sid, steps=None):
        return self.sessions[sid]["plan"]

    # -- review findings: numbered, each with the developer's decision ------------------
    def current_spec(self, sid):
        return self.store.get_spec_version(sid)

    def findings(self, sid):
        s = self.sessions[sid]
        decisions = s.setdefault("decisions", {})
        return [{**f, "n": n, "id": f"{n:010x}", "status": decisions.get(n, {}).get("status", "open"),
                 "reason": decisions.get(n, {}).get("reason", ""),
                 "decided_by": decisions.get(n, {}).get("actor", "")}
                for n, f in enumerate(s.get("findings", []), 1)]

    def _open_finding(self, sid, ref, doing):
        if "spec" in self.sessions[sid]["approved"]:
            raise UsageError(f"cannot {doing}: the spec is approved (edit it to review it again)")
        findings = self.findings(sid)
        match = [f for f in findings if str(ref) in (str(f["n"]), f["id"])]
        if not match:
            raise UsageError(f"no finding '{ref}': give its number (1-{len(findings)}) or id")
        if match[0]["status"] != "open":
            raise UsageError(f"finding {match[0]['n']} is already {match[0]['status']}")
        return match[0]

    def _findings_changed(self, sid):
        found = self.findings(sid)
        self._emit(K.FINDINGS_CHANGED, sid, "review", "", total=len(found),
                   open=sum(1 for f in found if f["status"] == "open"))

    def dismiss_finding(self, sid, ref, reason="", actor=None):
        f = self._open_finding(sid, ref, "dismiss a finding")
        self.sessions[sid]["decisions"][f["n"]] = {"status": "dismissed", "reason": reason,
                                                         "actor": actor or "human"}
        self.calls.append(("dismiss_finding", f["n"], reason))
        self.store.add(actor or "human", "finding_dismissed", "review", f"dismissed finding {f['n']}",
                       session=sid)
        self._findings_changed(sid)
        return {**f, "status": "dismissed", "reason": reason}

    def apply_finding(self, sid, ref, actor=None):
        f = self._open_finding(sid, ref, "apply a finding")
        s = self.sessions[sid]
        agents = self.provider.for_step("spec")
        finding = Finding(f["severity"], f["location"], f["text"], f["suggestion"], f["source"])
        text = agents.apply_finding(self._tokens(sid, "spec"), s["spec"], finding)
        if text == s["spec"]:
            raise UsageError(f"finding {f['n']}: {agents.label} left the spec unchanged; "
                             "edit it yourself, or dismiss the finding")
        version = self.save_spec_edit(sid, text, actor)
        s["decisions"][f["n"]] = {"status": "applied", "actor": actor or "human"}
        self.calls.append(("apply_finding", f["n"]))
        self.store.add(actor or "human", "finding_applied", "review", f"applied finding {f['n']}",
                       session=sid)
        self._findings_changed(sid)
        return {**f, "status": "applied", "spec_version": version["version"],
                "sha256": hashlib.sha256(text.encode()).hexdigest()}
