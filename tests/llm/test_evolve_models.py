"""evolve with a model, over the loopback server, on the three wire formats: a request
becomes a revised spec (Tool Builder), the model-owned files are updated from the spec
diff and the files as they are now, and git merges them with the developer's edits."""

from __future__ import annotations

import pytest

from tests.integration.test_evolve import (  # noqa: F401 - the fixtures
    BODY_NEW,
    SPEC_V2,
    generated,
    git,
    hand_edit,
    project,
)
from tests.support.loopback import lifecycle_responder

BUILTIN = {"gpt": "openai/gpt-4o", "claude": "anthropic/claude-sonnet-4-5", "gemini": "gemini/gemini-2.5-pro"}
ALIASES = {"openai": "gpt", "anthropic": "claude", "gemini": "gemini"}

@pytest.mark.parametrize("provider", list(ALIASES))
def test_evolve_by_request_per_provider(provider, srv, keys, store, project):
    from workbench.config import Config, ModelConfig
    from workbench.lifecycle.engine import Options
    from workbench.lifecycle.evolve import EvolveService
    from workbench.lifecycle.session import Policy
    from workbench.llm.registry import ModelProvider

    root, _home = project
    hand_edit(root)
    alias = ALIASES[provider]
    cfg = Config(models={alias: ModelConfig(BUILTIN[alias], api_base=srv.api_base(provider))})
    seen: dict[str, str] = {}

    def files(current: dict[str, str]) -> dict[str, str]:
        seen.update(current)
        path = "src/rowtool/commands.py"
        # the model writes the new command's body into the file as it is now
        added = (f'\n\ndef run_head(args: argparse.Namespace) -> int:\n'
                 f'    print("first rows by {provider}")\n    return 0\n')
        return {path: current[path] + added}

    srv.responder = lifecycle_responder(files=files, revise=lambda _current: SPEC_V2)
    mp = ModelProvider(cfg, alias, store=store, cross_review=False)
    events = []
    service = EvolveService(store, lambda model, template: mp, events.append,
                            Options(allow_unsandboxed=True, run_monitor=False))
    sid = service.open(root, request="add a command head and an option --limit to count", model=alias)
    assert store.get_spec_version(sid)["text"] == SPEC_V2  # the request became the revised spec
    assert store.get_spec_version(sid)["source"] == "request"
    outcome = service.drive(sid, Policy(yes=True))
    service.close()
    assert outcome.status == "done", outcome.message
    steps = [r.step for r in srv.requests]
    assert steps[:3] == ["spec", "review", "implementation"], steps
    assert {r.provider for r in srv.requests} == {provider}
    assert BODY_NEW in seen["src/rowtool/commands.py"]  # the agent saw the developer's code
    text = (root / "src/rowtool/commands.py").read_text()
    assert BODY_NEW in text and f'print("first rows by {provider}")' in text
    assert git(root, "log", "-1", "--format=%s") == "Evolve rowtool to spec v2\n"
    assert git(root, "status", "--porcelain") == ""
    assert "def run_head(" in text and "def run_convert(" in text
    assert any(e.kind == "merge_planned" for e in events)
    history = git(root, "log", "-p", "--all")
    for secret in keys.values():
        assert secret not in history and secret not in text
