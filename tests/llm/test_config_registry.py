"""config.toml, the model registry and the ModelProvider (no LiteLLM involved)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from workbench.config import Config, ModelConfig, load_config, parse_config
from workbench.errors import UsageError
from workbench.llm.offline import OfflineAgents
from workbench.llm.registry import ModelProvider, Registry, provider_of

GOOD = """\
[workbench]
default_model = "claude"

[models.gpt]
model = "openai/gpt-5.1"
fallbacks = ["gemini"]
[models.local]
model = "ollama_chat/llama3.1"
api_base = "http://127.0.0.1:11434/"
[models.mine]
model = "openai/my-model"
api_base = "https://llm.example.com/v1"
api_key_env = "MY_KEY_VAR"

[steps]
review = "gemini"
"""

NO_KEYS: dict[str, str] = {}
ALL_KEYS = {"OPENAI_API_KEY": "o", "ANTHROPIC_API_KEY": "a", "GEMINI_API_KEY": "g"}


def test_parse_good_config(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text(GOOD)
    cfg = load_config(p)
    assert cfg.default_model == "claude"
    assert cfg.models["gpt"] == ModelConfig("openai/gpt-5.1", None, None, ("gemini",))
    assert cfg.models["local"].api_base == "http://127.0.0.1:11434"
    assert cfg.models["mine"].api_key_env == "MY_KEY_VAR"
    assert cfg.steps == {"review": "gemini"}
    assert cfg.source == str(p)


def test_missing_file_is_empty_config(tmp_path):
    assert load_config(tmp_path / "nope.toml") == Config()


def test_config_path_from_workbench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text('[workbench]\ndefault_model = "gpt"\n')
    assert load_config().default_model == "gpt"


@pytest.mark.parametrize("text, line, key", [
    ('[workbench]\ndefault_model = "claude"\nnope = 1\n', 3, "workbench.nope"),
    ('[models.gpt]\nmodel = "openai/gpt-4o"\n\n[models.x]\napi_base = "http://h"\n', 4, "models.x"),
    ('[models.x]\nmodel = "a/b"\napi_key_env = "sk-live-123"\n', 3, "models.x.api_key_env"),
    ('[models.x]\nmodel = "a/b"\napi_base = "ftp://h"\n', 3, "models.x.api_base"),
    ('[models.x]\nmodel = "a/b"\nfallbacks = [1]\n', 3, "models.x.fallbacks"),
    ('[models.x]\nmodel = 5\n', 2, "models.x.model"),
    ('[steps]\nreveiw = "gemini"\n', 2, "steps.reveiw"),
    ('[models.offline]\nmodel = "a/b"\n', 1, "models.offline"),
    ('[extra]\n', 1, "extra"),
])
def test_invalid_config_names_file_line_and_key(tmp_path, text, line, key):
    p = tmp_path / "config.toml"
    p.write_text(text)
    with pytest.raises(UsageError) as info:
        load_config(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}:{line}: {key}: "), msg
    assert "\n" not in msg and info.value.exit_code == 2


def test_invalid_toml_and_encoding(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text('[workbench]\ndefault_model = "claude\n')
    with pytest.raises(UsageError, match=rf"^{p}:2: invalid TOML"):
        load_config(p)
    p.write_bytes(b'[workbench]\n# \xff\n')
    with pytest.raises(UsageError, match=rf"^{p}:2: config is not valid UTF-8"):
        load_config(p)
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(UsageError, match="directory"):
        load_config(tmp_path / "dir.toml")


# -- registry ---------------------------------------------------------------------------------


def test_provider_from_id():
    assert provider_of("anthropic/claude-sonnet-4-5") == "anthropic"
    assert provider_of("ollama_chat/llama3.1") == "ollama_chat"
    assert provider_of("gpt-4o") == "openai"
    assert provider_of("claude-3-haiku") == "anthropic"


def test_builtins_and_keys():
    reg = Registry(Config(), env={"ANTHROPIC_API_KEY": "k"})
    assert reg.aliases() == ["claude", "gpt", "gemini"]
    claude, gpt, gemini = (reg.resolve(a) for a in ("claude", "gpt", "gemini"))
    assert (claude.model, claude.provider, claude.api_key_env) == ("anthropic/claude-sonnet-4-5", "anthropic",
                                                                 "ANTHROPIC_API_KEY")
    assert gpt.model == "openai/gpt-4o" and gemini.model == "gemini/gemini-2.5-pro"
    assert claude.key_status(reg.env) == "yes" and gpt.key_status(reg.env) == "no"
    assert gemini.api_key_env == "GEMINI_API_KEY"
    assert reg.resolve("gemini").api_key_env == "GEMINI_API_KEY"
    reg2 = Registry(Config(), env={"GOOGLE_API_KEY": "k"})
    assert reg2.resolve("gemini").api_key_env == "GOOGLE_API_KEY" and reg2.resolve("gemini").usable(reg2.env)


def test_config_overrides_and_raw_ids():
    cfg = parse_config(GOOD)
    reg = Registry(cfg, env={"MY_KEY_VAR": "x"})
    assert reg.resolve("gpt").model == "openai/gpt-5.1"
    mine = reg.resolve("mine")
    assert mine.api_key_env == "MY_KEY_VAR" and mine.usable(reg.env) and mine.api_base.endswith("/v1")
    local = reg.resolve("local")
    assert local.key_status(reg.env) == "not needed" and local.usable(reg.env)
    raw = reg.resolve("mistral/mistral-large-latest")
    assert raw.alias == raw.model == "mistral/mistral-large-latest" and raw.provider == "mistral"
    assert raw.api_key_env == "MISTRAL_API_KEY"
    assert reg.resolve("openai/my-model").api_base == "https://llm.example.com/v1"  # reuses the alias's base
    assert reg.resolve("offline") is None
    with pytest.raises(UsageError, match="unknown model 'cluade'"):
        reg.resolve("cluade")


def test_fallback_chain():
    reg = Registry(parse_config(GOOD), env={})
    chain = reg.fallback_chain(reg.resolve("gpt"))
    assert [t.alias for t in chain] == ["gpt", "gemini"]


def test_offline_is_default_without_keys():
    p = ModelProvider(Config(), env=NO_KEYS)
    assert p.default == "offline" and p.label == "offline"
    agents = p.for_step("spec")
    assert isinstance(agents, OfflineAgents) and agents.label == "offline"
    assert p.for_step("review") is agents
    assert [r["alias"] for r in p.describe() if r["default"]] == ["offline"]


def test_default_is_first_usable_then_configured():
    assert ModelProvider(Config(), env={"GEMINI_API_KEY": "g"}).default == "gemini"
    assert ModelProvider(Config(), env=ALL_KEYS).default == "claude"
    cfg = Config(default_model="gpt")
    assert ModelProvider(cfg, env=ALL_KEYS).default == "gpt"
    # A configured default without a key: the first usable one, with a note.
    p = ModelProvider(cfg, env={"ANTHROPIC_API_KEY": "a"})
    assert p.default == "claude" and "OPENAI_API_KEY" in p.warnings[0]


def test_model_flag():
    p = ModelProvider(Config(), "gpt", env=ALL_KEYS)
    assert p.default == "gpt" and p.model_name_for("spec") == "gpt"
    assert ModelProvider(Config(), "offline", env=ALL_KEYS).model_name_for("review") == "offline"
    assert ModelProvider(Config(), "openai/gpt-5.1", env=ALL_KEYS).target_for("spec").model == "openai/gpt-5.1"
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        ModelProvider(Config(), "gpt", env={})
    with pytest.raises(UsageError, match="unknown model"):
        ModelProvider(Config(), "nope", env=ALL_KEYS)


def test_per_step_and_cross_model_review():
    # Two providers usable: the review goes to the other one.
    p = ModelProvider(Config(), env={"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"})
    assert p.model_name_for("spec") == "claude"
    assert p.model_name_for("review") == "gpt"
    assert p.model_name_for("implementation") == "claude"
    # One provider: the review stays on it.
    p = ModelProvider(Config(), env={"ANTHROPIC_API_KEY": "a"})
    assert p.model_name_for("review") == "claude"
    # [steps] wins over cross-model review.
    cfg = Config(steps={"review": "gemini", "implementation": "gpt"})
    p = ModelProvider(cfg, env=ALL_KEYS)
    assert p.model_name_for("review") == "gemini" and p.model_name_for("implementation") == "gpt"
    # A per-step model without a key falls back to the default, with a note.
    p = ModelProvider(Config(steps={"review": "gemini"}), env={"ANTHROPIC_API_KEY": "a"})
    assert p.model_name_for("review") == "claude" and any("[steps] review" in w for w in p.warnings)
    # Agents are shared per model, and carry the model's label.
    p = ModelProvider(Config(), env=ALL_KEYS, gateway=object())
    assert p.for_step("spec") is p.for_step("analysis")
    assert p.for_step("review").label == "gpt (openai/gpt-4o)"


def test_registry_and_config_never_import_litellm():
    code = (
        "from workbench.llm.registry import ModelProvider\n"
        "from workbench.config import Config\n"
        "import workbench.cli.models_cmd, workbench.llm.gateway, workbench.llm.agents\n"
        "p = ModelProvider(Config(), env={})\n"
        "a = p.for_step('spec')\n"
        "a.draft_spec(__import__('workbench.llm.base', fromlist=['x']).AgentContext('s', 'spec'), 'csv to json', '', [])\n"
        "import json, sys; print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = json.loads(out.stdout.strip().splitlines()[-1])
    bad = [m for m in mods if m.split(".")[0] in ("litellm", "textual", "rich", "openai", "httpx")]
    assert bad == []


def test_models_command(tmp_path, monkeypatch, capsys):
    import argparse

    from workbench.cli import models_cmd

    for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    parser = argparse.ArgumentParser()
    models_cmd.register(parser.add_subparsers(dest="command"))
    assert models_cmd.run(parser.parse_args(["models"])) == 0
    out = capsys.readouterr().out
    assert "default: offline" in out and "export ANTHROPIC_API_KEY=" in out
    for alias, model in [("claude", "anthropic/claude-sonnet-4-5"), ("gpt", "openai/gpt-4o"),
                         ("gemini", "gemini/gemini-2.5-pro")]:
        assert alias in out and model in out

    monkeypatch.setenv("OPENAI_API_KEY", "sk-SENTINEL-models-cmd-123456")
    assert models_cmd.run(parser.parse_args(["models", "--json"])) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["default"] == "gpt"
    gpt = next(r for r in data["models"] if r["alias"] == "gpt")
    assert gpt["key"] == "yes" and gpt["default"] and gpt["provider"] == "openai"
    assert "sk-SENTINEL" not in out


def test_unknown_model_in_config_names_file_line_and_key(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text('[workbench]\ndefault_model = "gpt"\n\n[steps]\nreview = "gemnii"\n')
    with pytest.raises(UsageError) as info:
        ModelProvider(load_config(p), env=ALL_KEYS)
    assert str(info.value).startswith(f"{p}:5: steps.review: unknown model 'gemnii'")
    p.write_text('[workbench]\ndefault_model = "cluade"\n')
    with pytest.raises(UsageError, match=rf"^{p}:2: workbench.default_model: unknown model 'cluade'"):
        ModelProvider(load_config(p), env=ALL_KEYS)


def test_timeouts_from_config():
    from workbench.config import parse_config
    from workbench.errors import UsageError
    from workbench.llm.registry import Registry

    cfg = parse_config('[workbench]\ntimeout = 60\n\n[models.slow]\nmodel = "openai/o3"\ntimeout = 300\n')
    reg = Registry(cfg, env={})
    assert reg.resolve("slow").timeout == 300.0 and reg.resolve("gpt").timeout == 60.0
    assert Registry(parse_config(""), env={}).resolve("gpt").timeout is None
    for bad in ("timeout = 0", 'timeout = "60"', "timeout = true", "timeout = 99999"):
        with pytest.raises(UsageError) as info:
            parse_config(f"[workbench]\n{bad}\n", "c.toml")
        assert str(info.value).startswith("c.toml:2: workbench.timeout: must be a number of seconds")


def test_the_provider_never_opens_a_store_of_its_own(tmp_path, monkeypatch):
    """The store is injected: without one a model step is refused in one line (the offline
    drafter needs none), and the default database is never created behind the caller's back."""
    from workbench.errors import WorkbenchError
    from workbench.llm.registry import ModelProvider, build_provider

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000")
    with pytest.raises(WorkbenchError, match="no store to record model calls in") as info:
        build_provider(model="gpt").for_step("spec")
    assert "\n" not in str(info.value)
    assert ModelProvider(model="offline").for_step("spec").label == "offline"
    assert not any(tmp_path.rglob("*.db")) and not any(tmp_path.rglob("*.sqlite*"))


def test_keys_section_remaps_actions_and_names_a_bad_line():
    from workbench.config import parse_config

    cfg = parse_config('[keys]\nnext = "ctrl+e"\npane = "f5, tab"\n')
    assert cfg.keys == {"next": "ctrl+e", "pane": "f5,tab"}
    for text, line, what in (
        ('[keys]\nnext = "ctrl+e"\nnxt = "f6"\n', 3, "keys.nxt: unknown action"),
        ('[workbench]\n\n[keys]\nback = "ctrl +b"\n', 4, "keys.back: must be a key"),
        ('[keys]\nquit = 3\n', 2, "keys.quit: must be a key"),
    ):
        with pytest.raises(UsageError) as err:
            parse_config(text)
        assert str(err.value).startswith(f"config.toml:{line}: {what}"), str(err.value)


def test_every_key_action_is_a_binding_of_the_tui():
    from workbench.config import KEY_ACTIONS
    from workbench.ui.app import KEY_BINDINGS, WorkbenchApp
    from workbench.ui.widgets.stepper import Stepper

    assert set(KEY_BINDINGS) == set(KEY_ACTIONS)
    ids = {b.id for b in WorkbenchApp.BINDINGS} | {b.id for b in Stepper.BINDINGS}
    assert set(KEY_BINDINGS.values()) <= ids
