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
    """The project and prompt templates (data, shipped inside the wheel).

    `WORKBENCH_TEMPLATES` when set; otherwise the package `workbench.templates`: in an
    installed copy, the data the wheel carries; in a checkout (editable install or a
    plain `python -m workbench`), the top-level `templates/`, which is its source.
    """
    value = os.environ.get("WORKBENCH_TEMPLATES")
    if value:
        return Path(value)
    packaged = _packaged_templates()
    if packaged is not None:
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def _packaged_templates() -> Path | None:
    from importlib import resources

    try:
        # `workbench.templates` has no __init__.py (it is data), so files() is a
        # MultiplexedPath; a child that exists on disk comes back as a real Path.
        prompts = resources.files("workbench.templates").joinpath("prompts")
    except (ModuleNotFoundError, TypeError, ValueError):
        return None
    if not isinstance(prompts, Path) or not prompts.is_dir():
        return None  # a zipped install would need resources.as_file: unsupported
    return prompts.parent
