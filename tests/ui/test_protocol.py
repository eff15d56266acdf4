"""The engine the UI uses, real or fake, has every call of the Protocol the UI uses
(`workbench.ui.backend.UIEngine`, which extends the session service's `EngineLike`)."""

from __future__ import annotations

import inspect

from fakes import FakeEngine

from workbench.lifecycle.engine import Engine
from workbench.ui.backend import UIEngine


def protocol_methods():
    return [(name, member) for name, member in inspect.getmembers(UIEngine, inspect.isfunction)
            if not name.startswith("_")]


def test_the_protocol_lists_what_the_ui_calls():
    names = {name for name, _ in protocol_methods()}
    assert {"start", "run", "approve", "reject", "status", "findings", "save_spec_edit", "step_back",
            "rerun", "plan", "apply_finding", "dismiss_finding", "switch_model", "gate_sha"} <= names


def test_the_real_engine_and_the_fake_match_the_protocol():
    for impl in (Engine, FakeEngine):
        for name, member in protocol_methods():
            real = getattr(impl, name, None)
            assert callable(real), (impl.__name__, name)
            want = [p for p in inspect.signature(member).parameters if p != "self"]
            have = list(inspect.signature(real).parameters)
            assert all(p in have for p in want), (impl.__name__, name, want, have)
        # the cancel event every agent call is handed
        engine = impl.__new__(impl)
        assert "cancel" in inspect.getsource(impl.__init__), impl.__name__
        del engine


def test_a_fake_missing_a_call_is_caught():
    class Broken(FakeEngine):
        rerun = None  # type: ignore[assignment]

    missing = [name for name, _ in protocol_methods() if not callable(getattr(Broken, name, None))]
    assert missing == ["rerun"]
