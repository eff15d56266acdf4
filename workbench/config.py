"""`config.toml` -> `Config` (design.md, "config.toml").

```toml
[workbench]
default_model = "claude"          # an alias, or a raw LiteLLM model id
timeout = 60                      # optional: seconds without a reply before a retry (default 120)

[models.local]
model = "ollama_chat/llama3.1"
api_base = "http://127.0.0.1:11434"
api_key_env = "MY_KEY_VAR"
fallbacks = ["gemini"]
timeout = 300                     # optional, this model's own timeout

[steps]
review = "gemini"                 # a per-step model: alias or raw id

[keys]
next = "ctrl+n"                   # the TUI's keys, by action (KEY_ACTIONS); "f5,ctrl+n" binds two
```

A missing file is an empty config. A file that cannot be read or is not valid gives
one `UsageError` naming the file, the line and the key. This module never imports
LiteLLM, Textual or Rich.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import UsageError
from workbench.lifecycle.steps import STEP_IDS

ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MODEL_KEYS = ("model", "api_base", "api_key_env", "fallbacks", "timeout")
TIMEOUT_MAX = 3600.0
# The TUI's remappable actions ([keys] NAME = "KEYS"); the TUI maps each to its binding id.
KEY_ACTIONS = ("next", "back", "rerun", "approve", "model", "palette", "pane", "diff", "findings",
               "cancel", "maximize", "help", "new", "quit")
KEY_RE = re.compile(r"^(?:[a-z0-9_]+\+)*(?:[a-z0-9_]+|[^\sa-z0-9_+,])$")


@dataclass(frozen=True)
class ModelConfig:
    """One `[models.ALIAS]` table."""

    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    fallbacks: tuple[str, ...] = ()
    timeout: float | None = None  # seconds without a byte of reply before a retry


@dataclass
class Config:
    default_model: str | None = None
    timeout: float | None = None  # [workbench] timeout: every model's read timeout (seconds)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # [keys]: action -> "key[,key...]"
    source: str | None = None  # the file it came from, if any


def _header_name(line: str) -> str | None:
    stripped = line.strip()
    if not stripped.startswith("[") or stripped.startswith("[[") or "]" not in stripped:
        return None
    inner = stripped[1: stripped.index("]")]
    return ".".join(p.strip().strip('"').strip("'") for p in inner.split("."))


def _line_of(text: str, key_path: tuple[str, ...]) -> int:
    """Best-effort line number of a key in TOML text (1 if not found)."""
    lines = text.splitlines()
    full = ".".join(key_path)
    for i, line in enumerate(lines):  # the key is itself a table: [models.gpt]
        if _header_name(line) == full:
            return i + 1
    table, key = ".".join(key_path[:-1]), key_path[-1]
    in_table = table == ""
    key_re = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
    dotted_re = re.compile(r"^\s*" + re.escape(full) + r"\s*=")
    for i, line in enumerate(lines):
        name = _header_name(line)
        if name is not None:
            in_table = name == table
            continue
        if (in_table and key_re.match(line)) or dotted_re.match(line):
            return i + 1
    for i, line in enumerate(lines):  # at least the table
        if table and _header_name(line) == table:
            return i + 1
    return 1


def _err(path: Path, text: str, key_path: tuple[str, ...], message: str) -> UsageError:
    key = ".".join(key_path)
    return UsageError(f"{path}:{_line_of(text, key_path)}: {key}: {message}")


def load_config(path: Path | str | None = None) -> Config:
    """Load config.toml (default: `workbench.paths.config_path()`)."""
    if path is None:
        from workbench.paths import config_path

        path = config_path()
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return Config(source=None)
    from workbench.spec.model import read_user_file

    # a regular file only, read without blocking and at most 1 MB: a FIFO or a device
    # named config.toml is one clear error, never a hang
    try:
        raw = read_user_file(path, limit=1_000_000, what="a config file")
    except UsageError as exc:
        raise UsageError(f"cannot read config: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: config is not valid UTF-8") from None
    return parse_config(text, path)


def _timeout(path: Path, text: str, key_path: tuple[str, ...], value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= TIMEOUT_MAX:
        raise _err(path, text, key_path, f"must be a number of seconds from 1 to {TIMEOUT_MAX:g}")
    return float(value)


def parse_config(text: str, path: Path | str = "config.toml") -> Config:
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = m.group(1) if m else "1"
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        m2 = re.search(r"\(at end of document\)", msg)
        if m2:
            line = str(text.count("\n") + 1)
            msg = msg.replace(" (at end of document)", "")
        raise UsageError(f"{path}:{line}: invalid TOML: {msg}") from None

    cfg = Config(source=str(path))
    for top in data:
        if top not in ("workbench", "models", "steps", "keys"):
            raise _err(path, text, (top,), "unknown section (expected workbench, models, steps or keys)")

    wb = data.get("workbench", {})
    if not isinstance(wb, dict):
        raise _err(path, text, ("workbench",), "must be a table")
    for key, value in wb.items():
        if key == "default_model":
            if not isinstance(value, str) or not value.strip():
                raise _err(path, text, ("workbench", key), "must be a model alias or LiteLLM id (a string)")
            cfg.default_model = value.strip()
        elif key == "timeout":
            cfg.timeout = _timeout(path, text, ("workbench", key), value)
        else:
            raise _err(path, text, ("workbench", key), "unknown key (expected default_model or timeout)")

    models = data.get("models", {})
    if not isinstance(models, dict):
        raise _err(path, text, ("models",), "must be a table of [models.ALIAS] tables")
    for alias, table in models.items():
        if not ALIAS_RE.match(alias):
            raise _err(path, text, ("models", alias), "alias must be letters, digits, '-', '_' or '.'")
        if alias == "offline":
            raise _err(path, text, ("models", alias), "'offline' is the built-in model and cannot be redefined")
        if not isinstance(table, dict):
            raise _err(path, text, ("models", alias), "must be a table with at least `model`")
        for key in table:
            if key not in MODEL_KEYS:
                raise _err(path, text, ("models", alias, key),
                           f"unknown key (expected one of: {', '.join(MODEL_KEYS)})")
        model = table.get("model")
        if model is None:
            raise _err(path, text, ("models", alias), "missing required key `model` (a LiteLLM model id)")
        if not isinstance(model, str) or not model.strip() or any(c.isspace() for c in model.strip()):
            raise _err(path, text, ("models", alias, "model"), "must be a LiteLLM model id such as openai/gpt-4o")
        api_base = table.get("api_base")
        if api_base is not None:
            if not isinstance(api_base, str) or not re.match(r"^https?://[^\s]+$", api_base):
                raise _err(path, text, ("models", alias, "api_base"), "must be an http(s) URL")
        key_env = table.get("api_key_env")
        if key_env is not None:
            if not isinstance(key_env, str) or not ENV_RE.match(key_env):
                raise _err(path, text, ("models", alias, "api_key_env"),
                           "must be the NAME of an environment variable (never the key itself)")
        fallbacks = table.get("fallbacks", [])
        if isinstance(fallbacks, str):
            fallbacks = [fallbacks]
        if not isinstance(fallbacks, list) or not all(isinstance(f, str) and f.strip() for f in fallbacks):
            raise _err(path, text, ("models", alias, "fallbacks"), "must be a list of aliases or model ids")
        timeout = table.get("timeout")
        if timeout is not None:
            timeout = _timeout(path, text, ("models", alias, "timeout"), timeout)
        cfg.models[alias] = ModelConfig(
            model=model.strip(), api_base=api_base.rstrip("/") if api_base else None,
            api_key_env=key_env, fallbacks=tuple(f.strip() for f in fallbacks), timeout=timeout,
        )

    steps = data.get("steps", {})
    if not isinstance(steps, dict):
        raise _err(path, text, ("steps",), "must be a table of step = model")
    for step, value in steps.items():
        if step not in STEP_IDS:
            raise _err(path, text, ("steps", step), f"unknown step (expected one of: {', '.join(STEP_IDS)})")
        if not isinstance(value, str) or not value.strip():
            raise _err(path, text, ("steps", step), "must be a model alias or LiteLLM id (a string)")
        cfg.steps[step] = value.strip()

    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        raise _err(path, text, ("keys",), 'must be a table of action = "key"')
    for action, value in keys.items():
        if action not in KEY_ACTIONS:
            raise _err(path, text, ("keys", action), f"unknown action (expected one of: {', '.join(KEY_ACTIONS)})")
        chosen = [k.strip() for k in value.split(",")] if isinstance(value, str) else []
        if not chosen or not all(KEY_RE.match(k) for k in chosen):
            raise _err(path, text, ("keys", action),
                       'must be a key such as "ctrl+n" or "f5" (several: "f5,ctrl+n")')
        cfg.keys[action] = ",".join(chosen)
    return cfg
