"""Where Workbench keeps its config and database.

`WORKBENCH_HOME`, when set, holds `config.toml` and `workbench.db`; otherwise the
platform's user config and data directories are used.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "workbench"


def home() -> Path | None:
    value = os.environ.get("WORKBENCH_HOME")
    return Path(value).expanduser() if value else None


def config_path() -> Path:
    h = home()
    if h is not None:
        return h / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def db_path() -> Path:
    h = home()
    if h is not None:
        return h / "workbench.db"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP)) / "workbench.db"


def templates_dir() -> Path:
    """The project templates: `WORKBENCH_TEMPLATES`, else `templates/` beside the package."""
    value = os.environ.get("WORKBENCH_TEMPLATES")
    if value:
        return Path(value)
    return Path(__file__).resolve().parent.parent / "templates"
