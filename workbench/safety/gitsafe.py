"""Git without surprises: no hook, hooksPath, fsmonitor or filter ever runs.

Workbench's git operations (integrate/git.py, GitPython) run with:

* `safe_git_env()` -- the environment: every inherited ``GIT_*`` variable dropped
  (``GIT_CONFIG_PARAMETERS``, ``GIT_DIR``, ``GIT_EXEC_PATH`` ... could redirect
  git), ``GIT_CONFIG_NOSYSTEM=1``, ``GIT_CONFIG_GLOBAL=/dev/null`` (the user's
  ``~/.gitconfig``, its includes and XDG config are not read), ``GIT_TEMPLATE_DIR``
  empty (``git init`` copies no template, so no hook; nothing is made in /tmp), the
  identity as ``GIT_AUTHOR_*``/``GIT_COMMITTER_*``, and the overrides below as
  ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` -- these rank
  like ``git -c`` and beat even a repository's own ``.git/config``;
* `git_config_overrides()` -- the same overrides as ``-c key=value`` arguments
  for a git command line;
* `identity()` -- the user's name and email, read from their real git config
  *before* isolating (workbench.identity). With GitPython pass them explicitly
  (``index.commit(msg, author=a, committer=a, skip_hooks=True)``): GitPython
  reads ``os.environ``, not the custom environment, for the actor.

Usage with GitPython::

    isolate_process_env()                         # once: drop inherited GIT_* vars
    env = safe_git_env()
    repo = git.Repo.init(path, env=env)           # or Repo(path)
    repo.git.update_environment(**env)
    a = git.Actor(*identity())
    repo.index.commit("msg", author=a, committer=a, skip_hooks=True)
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from workbench.errors import WorkbenchError

# Highest-priority config for every git command Workbench runs.
OVERRIDES: list[tuple[str, str]] = [
    ("core.hooksPath", os.devnull),
    ("core.fsmonitor", "false"),
    ("core.useBuiltinFSMonitor", "false"),
    ("core.untrackedCache", "false"),
    ("core.attributesFile", os.devnull),
    ("core.excludesFile", os.devnull),
    ("core.pager", "cat"),
    ("core.editor", "true"),
    ("core.sshCommand", "ssh"),
    ("credential.helper", ""),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("push.gpgSign", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("init.defaultBranch", "main"),
    ("protocol.ext.allow", "never"),
    ("advice.detachedHead", "false"),
]


# Inherited GIT_* variables that are kept: they only say which CA certificates to
# trust for HTTPS (needed to push through a corporate proxy) and run nothing.
KEEP_ENV = frozenset({"GIT_SSL_CAINFO", "GIT_SSL_CAPATH"})


def _drop(name: str) -> bool:
    up = name.upper()
    return up.startswith("GIT_") and up not in KEEP_ENV


class GitUnsafe(WorkbenchError):
    exit_code = 1


def empty_global_config() -> Path:
    """What GIT_CONFIG_GLOBAL points at: /dev/null, read as an empty file (git documents
    it: the user's global config is then not read). Nothing is created for it."""
    return Path(os.devnull)


def empty_template_dir() -> str:
    """GIT_TEMPLATE_DIR: empty, which makes `git init` copy no template at all."""
    return ""


_LEGACY_PREFIX = "workbench-git-"
_LEGACY_AGE = 3600.0


@lru_cache(maxsize=1)
def sweep_legacy_dirs(folder: str | None = None) -> tuple[str, ...]:
    """Remove the `workbench-git-*` folders earlier versions left in the temp directory
    on every run (an empty gitconfig and an empty templates/). Only ours (same user),
    holding exactly that, and untouched for an hour (their process is long gone)."""
    import shutil
    import time

    removed: list[str] = []
    where = folder or tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(where) if n.startswith(_LEGACY_PREFIX)]
    except OSError:
        return ()
    now = time.time()
    for name in names:
        path = os.path.join(where, name)
        try:
            st = os.lstat(path)
            if (not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.getuid()
                    or now - st.st_mtime < _LEGACY_AGE
                    or sorted(os.listdir(path)) != ["gitconfig", "templates"]
                    or os.path.getsize(os.path.join(path, "gitconfig")) != 0
                    or os.listdir(os.path.join(path, "templates"))):
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            removed.append(path)
    return tuple(removed)


@lru_cache(maxsize=1)
def identity() -> tuple[str, str]:
    """(name, email) from the user's real git config, else the OS user.

    Read once, *before* any isolated git command; cached for the process.
    """
    from workbench.identity import human

    who = human()
    return who.name, who.email


def git_config_overrides() -> list[str]:
    """``["-c", "core.hooksPath=/dev/null", "-c", ...]`` for a git command line."""
    out: list[str] = []
    for k, v in OVERRIDES:
        out += ["-c", f"{k}={v}"]
    return out


def safe_git_env(
    base: Mapping[str, str] | None = None,
    *,
    name: str | None = None,
    email: str | None = None,
) -> dict[str, str]:
    """The environment for Workbench's git commands (see the module docstring)."""
    sweep_legacy_dirs()
    if name is None or email is None:
        n, e = identity()
        name = name if name is not None else n
        email = email if email is not None else e
    src = os.environ if base is None else base
    from workbench.safety import redact

    # what scrubbing depends on: the variables, and the key names and secrets registered
    key = (tuple(sorted(src.items())), name, email, redact.registered())
    known = _SAFE_ENVS.get(key)
    if known is None:
        known = _SAFE_ENVS[key] = _safe_git_env(src, name, email)
        while len(_SAFE_ENVS) > 8:
            _SAFE_ENVS.pop(next(iter(_SAFE_ENVS)))
    return dict(known)


# safe_git_env by (environment, identity, registered keys): scrubbing redacts every
# value (a few ms), and every git command Workbench runs asks for it.
_SAFE_ENVS: dict[tuple, dict[str, str]] = {}


def _safe_git_env(src: Mapping[str, str], name: str, email: str) -> dict[str, str]:
    env = {k: v for k, v in src.items() if not _drop(k)}
    env.update(
        {
            # An inherited GIT_CONFIG_PARAMETERS (set by `git -c` when Workbench runs
            # under git, or by the user) would beat GIT_CONFIG_COUNT: neutralise it,
            # also for callers (GitPython) that merge this onto os.environ.
            "GIT_CONFIG_PARAMETERS": "",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(empty_global_config()),
            "GIT_TEMPLATE_DIR": str(empty_template_dir()),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_EDITOR": "true",
            "GIT_PAGER": "cat",
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
            "GIT_CONFIG_COUNT": str(len(OVERRIDES)),
        }
    )
    for i, (k, v) in enumerate(OVERRIDES):
        env[f"GIT_CONFIG_KEY_{i}"] = k
        env[f"GIT_CONFIG_VALUE_{i}"] = v
    # Keys are not needed by git; keep them out of its environment (and hooks').
    from workbench.safety.sandbox import scrub_env

    scrubbed = scrub_env(env)
    # scrub_env drops *_TOKEN etc.; keep git's own (non-secret) variables.
    for k, v in env.items():
        if k.startswith("GIT_"):
            scrubbed[k] = v
    return scrubbed


def isolate_process_env() -> list[str]:
    """Drop every inherited ``GIT_*`` variable from os.environ; return their names.

    For code (GitPython) that starts git with os.environ plus a few overrides:
    ``GIT_DIR``, ``GIT_EXEC_PATH``, ``GIT_EXTERNAL_DIFF``, ``GIT_SSH_COMMAND`` ...
    cannot be neutralised by a value, only removed. The user's identity is read
    (and cached) first, from their real configuration.
    """
    identity()
    removed = [k for k in list(os.environ) if _drop(k)]
    for k in removed:
        os.environ.pop(k, None)
    return removed


def run_git(
    args: Sequence[str],
    cwd: Path | str,
    *,
    check: bool = True,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """Run ``git <overrides> <args>`` in `cwd` with `safe_git_env()`."""
    cmd = ["git", *git_config_overrides(), *args]
    try:
        p = subprocess.run(
            cmd,
            cwd=os.fspath(cwd),
            check=False,
            env=safe_git_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise GitUnsafe("git is not installed (needed for the integrate steps)") from None
    except subprocess.TimeoutExpired:
        raise GitUnsafe(f"git {' '.join(args[:2])} did not finish within {timeout:g}s") from None
    if check and p.returncode != 0:
        from workbench.safety.redact import redact

        lines = (p.stderr or p.stdout).strip().splitlines()
        msg = redact(lines[-1]) if lines else f"exit {p.returncode}"
        raise GitUnsafe(f"git {' '.join(args[:2])} failed: {msg}")
    return p
