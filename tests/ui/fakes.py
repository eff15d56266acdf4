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
from workbench.lifecycle.events import Event
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
    """In-memory audit events, newest first, with the filters the pane uses."""

    def __init__(self, path: Path | None = None):
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, actor: str, action: str, step: str | None, message: str = "", **data: Any) -> None:
        with self.lock:
            self.events.append({"id": len(self.events) + 1, "ts": FIXED_TS, "actor": actor,
                                "step": step, "action": action, "message": message, "data": data})

    def audit(self, *, session_id, actor, action, step, data) -> None:
        self.add(actor, action, step, **data)

    def list_events(self, limit=100, before_id=None, actor=None, step=None):
        with self.lock:
            rows = [e for e in reversed(self.events)
                    if (actor is None or actor.lower() in e["actor"].lower())
                    and (step is None or e["step"] == step)
                    and (before_id is None or e["id"] < before_id)]
        return rows[:limit]


class FakeEngine:
    """Runs the sixteen steps with the given provider's agents, emitting events."""

    def __init__(self, store: FakeStore, provider: Any, on_event, *, token_delay: float = 0.0,
                 chunk: int = 0):
        self.store = store
        self.provider = provider
        self.on_event = on_event
        self.token_delay = token_delay
        self.chunk = chunk
        self.sessions: dict[str, dict[str, Any]] = {}
        self.cancelled = threading.Event()
        self.calls: list[tuple] = []

    def _emit(self, kind: str, sid: str, step: str | None, message: str = "", **data: Any) -> None:
        self.on_event(Event(kind, sid, step, message, data))

    def start(self, request, out_dir, spec_text=None, template=None, model=None,
              read_context=None) -> str:
        sid = f"s{len(self.sessions) + 1}"
        self.sessions[sid] = {"request": request, "out_dir": Path(out_dir), "spec": spec_text,
                              "pos": 0, "approved": set(), "plan": FakePlan(), "model": model}
        self.calls.append(("start", request))
        self.store.add("human", "request", "request", request)
        return sid

    def _tokens(self, sid: str, step: str):
        def on_token(text: str) -> None:
            if self.chunk:
                for i in range(0, len(text), self.chunk):
                    if self.cancelled.is_set():
                        return
                    self._emit(K.TOKEN, sid, step, text[i:i + self.chunk])
                    if self.token_delay:
                        time.sleep(self.token_delay)
            else:
                self._emit(K.TOKEN, sid, step, text)
        return AgentContext(sid, step, on_token=on_token, cancel=self.cancelled)

    def run(self, session_id, until=None):
        s = self.sessions[session_id]
        self.calls.append(("run", until))
        while s["pos"] < len(STEP_IDS):
            step = STEP_IDS[s["pos"]]
            meta = BY_ID[step]
            if meta.gate and meta.gate not in s["approved"]:
                if step == "approval":
                    self._emit(K.STEP_STARTED, session_id, step)
                self._emit(K.GATE, session_id, step, f"waiting for approval ({meta.gate})",
                           gate=meta.gate)
                self.store.add("engine", "gate", step, f"waiting for {meta.gate} approval")
                s["waiting"] = True
                return "gate"
            s["waiting"] = False
            if step != "approval":
                self._emit(K.STEP_STARTED, session_id, step)
            agents = self.provider.for_step(step)
            data: dict[str, Any] = {}
            if step == "analysis":
                s["analysis"] = agents.analyse(self._tokens(session_id, step), s["request"], "")
            elif step == "spec":
                s["spec"] = s["spec"] or agents.draft_spec(self._tokens(session_id, step),
                                                           s["request"], s.get("analysis", ""), [])
                data["spec_text"] = s["spec"]
            elif step == "review":
                findings = agents.review(self._tokens(session_id, step), s["spec"])
                data["findings"] = [f.as_dict() for f in findings]
                s["findings"] = data["findings"]
            elif step in ("structure", "dependencies", "configuration", "tests", "docs"):
                self._plan_step(s, step)
            elif step == "git" and not s.get("applied"):
                pass
            self._emit(K.STEP_DONE, session_id, step, f"{meta.title} done", **data)
            self.store.add(meta.actor, "step_done", step, f"{meta.title} done")
            s["pos"] += 1
            if until is not None and step == until:
                return "paused"
        self._emit(K.FINISHED, session_id, None, "The lifecycle is complete.")
        return "done"

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

    def approve(self, session_id, gate, sha256, actor):
        s = self.sessions[session_id]
        if gate == "spec":
            expected = hashlib.sha256(s["spec"].encode()).hexdigest()
        else:
            expected = s["plan"].sha256
        if sha256 != expected:
            raise ValueError(f"{gate}: the hash does not match the current version")
        s["approved"].add(gate)
        step = "approval" if gate == "spec" else "docs"
        self.store.add("human", "approve", step, f"approved {gate} {sha256[:12]}")
        if gate == "spec":
            self._emit(K.STEP_DONE, session_id, "approval", "approved")
            s["pos"] = STEP_IDS.index("approval") + 1
        else:
            out: Path = s["out_dir"]
            for path, pf in s["plan"].files.items():
                target = out / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(pf.content)
            s["applied"] = True
            self._emit(K.STEP_DONE, session_id, "docs", "applied")
            s["pos"] = STEP_IDS.index("docs") + 1
        self.calls.append(("approve", gate))

    def step_back(self, session_id, step):
        s = self.sessions[session_id]
        s["pos"] = STEP_IDS.index(step)
        s["waiting"] = False
        s["approved"] = {g for g in s["approved"]
                         if STEP_IDS.index("approval" if g == "spec" else "docs") < s["pos"]}
        self.calls.append(("step_back", step))

    def rerun(self, session_id, step):
        self.step_back(session_id, step)
        self.calls.append(("rerun", step))
        return self.run(session_id, until=step)

    def save_spec_edit(self, session_id, text, actor=None):
        s = self.sessions[session_id]
        if s["spec"] == text:
            return
        s["spec"] = text
        if s["pos"] > STEP_IDS.index("review"):
            s["pos"] = STEP_IDS.index("review")
            s["waiting"] = False
        self.calls.append(("save", len(text)))
        self.store.add("human", "spec_edit", "spec", f"{len(text.splitlines())} lines")

    def status(self, session_id):
        s = self.sessions[session_id]
        out = {}
        for i, step in enumerate(STEP_IDS):
            if i < s["pos"]:
                out[step] = "done"
            elif i == s["pos"] and s.get("waiting"):
                out[step] = "waiting"
            else:
                out[step] = "pending"
        return out

    def switch_model(self, session_id, provider, model, step=None, actor=None):
        self.provider = provider
        self.store.add(actor or "human", "model_switch", step, f"switched {step or 'the session'} to {model}")

    def reject(self, session_id, gate, reason="", actor=None):
        self.store.add(actor or "human", "reject", "docs", reason)
        self.step_back(session_id, "implementation")

    def plan(self, session_id, steps=None):
        return self.sessions[session_id]["plan"]

    def cancel(self, session_id):
        self.cancelled.set()

    # -- review findings: numbered, each with the developer's decision ------------------
    def current_spec(self, session_id):
        s = self.sessions[session_id]
        if s["spec"] is None:
            return None
        return {"text": s["spec"], "version": s.get("version", 1),
                "sha256": hashlib.sha256(s["spec"].encode()).hexdigest()}

    def findings(self, session_id):
        s = self.sessions[session_id]
        decisions = s.setdefault("decisions", {})
        return [{**f, "n": n, "id": f"{n:010x}", "status": decisions.get(n, {}).get("status", "open"),
                 "reason": decisions.get(n, {}).get("reason", ""),
                 "decided_by": decisions.get(n, {}).get("actor", "")}
                for n, f in enumerate(s.get("findings", []), 1)]

    def _open_finding(self, session_id, ref, doing):
        if "spec" in self.sessions[session_id]["approved"]:
            raise UsageError(f"cannot {doing}: the spec is approved (edit it to review it again)")
        findings = self.findings(session_id)
        match = [f for f in findings if str(ref) in (str(f["n"]), f["id"])]
        if not match:
            raise UsageError(f"no finding '{ref}': give its number (1-{len(findings)}) or id")
        if match[0]["status"] != "open":
            raise UsageError(f"finding {match[0]['n']} is already {match[0]['status']}")
        return match[0]

    def dismiss_finding(self, session_id, ref, reason="", actor=None):
        f = self._open_finding(session_id, ref, "dismiss a finding")
        self.sessions[session_id]["decisions"][f["n"]] = {"status": "dismissed", "reason": reason,
                                                         "actor": actor or "human"}
        self.calls.append(("dismiss_finding", f["n"], reason))
        self.store.add(actor or "human", "finding_dismissed", "review", f"dismissed finding {f['n']}")
        return {**f, "status": "dismissed", "reason": reason}

    def apply_finding(self, session_id, ref, actor=None):
        f = self._open_finding(session_id, ref, "apply a finding")
        s = self.sessions[session_id]
        agents = self.provider.for_step("spec")
        finding = Finding(f["severity"], f["location"], f["text"], f["suggestion"], f["source"])
        text = agents.apply_finding(self._tokens(session_id, "spec"), s["spec"], finding)
        if text == s["spec"]:
            raise UsageError(f"finding {f['n']}: {agents.label} left the spec unchanged; "
                             "edit it yourself, or dismiss the finding")
        self.save_spec_edit(session_id, text, actor)
        s["version"] = s.get("version", 1) + 1
        s["decisions"][f["n"]] = {"status": "applied", "actor": actor or "human"}
        self.calls.append(("apply_finding", f["n"]))
        self.store.add(actor or "human", "finding_applied", "review", f"applied finding {f['n']}")
        return {**f, "status": "applied", "spec_version": s["version"],
                "sha256": hashlib.sha256(text.encode()).hexdigest()}
