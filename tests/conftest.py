"""Fixtures every test gets: nothing of the developer's own Workbench can leak in or out.

- `WORKBENCH_HOME` is a fresh directory per test (`wb_home`), so config.toml, the
  database, the audit key (`audit.key`) and the audit heads are private; the XDG
  config, data and cache directories point into the test's temp dir too, for the
  tests that unset WORKBENCH_HOME to check the platform's default locations.
- Real model keys are removed from the environment: a test that talks to a model
  sets sentinel keys for the loopback server itself (tests/llm/conftest.py `keys`).

The checkout's root is on sys.path through pytest's `pythonpath` setting
(pyproject.toml), so tests import `tests.support...` without touching sys.path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MISTRAL_API_KEY",
            "GROQ_API_KEY", "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY", "AZURE_API_KEY",
            "COHERE_API_KEY", "TOGETHERAI_API_KEY")


@pytest.fixture
def _private_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of this test's own beside (not inside) tmp_path, which tests may list."""
    return tmp_path_factory.mktemp("private")


@pytest.fixture
def wb_home(_private_root: Path) -> Path:
    """This test's WORKBENCH_HOME (it exists, empty at the start)."""
    home = _private_root / "wbhome"
    home.mkdir(exist_ok=True)
    return home


@pytest.fixture(autouse=True)
def _private_workbench(wb_home: Path, _private_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(wb_home))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(_private_root / "xdg" / name.split("_")[1].lower()))
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
