"""Shared helpers for the adversarial suite: attacks and faults with their safe outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_SPEC = ROOT / "tests" / "fixtures" / "csv2json.spec.md"

# Sentinel secrets: shaped like real keys, never valid anywhere.
SENTINELS = {
    "anthropic": "sk-ant-api03-SENTINELa1b2c3d4e5f6g7h8i9j0KLMNOPQRSTUVWX-yz0123456789AA",
    "openai": "sk-proj-SENTINEL0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0",
    "openai-legacy": "sk-SENTINELabcdefghijklmnopqrstuvwxyz0123456789AB",
    "google": "AIzaSyD-SENTINEL_0123456789abcdefghijklm",
    "github": "ghp_SENTINEL0123456789abcdefghijklmnopqrst",
    "github-pat": "github_pat_11SENTINEL0123456789_abcdefghijklmnopqrstuvwxyzABCDEF",
    "aws-id": "AKIASENTINEL01234567",
    "aws-secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSENTINEL12",
}
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAsentinelsentinelsentinelsentinelsentinel0123456789\n"
    "-----END RSA PRIVATE KEY-----\n"
)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: no real keys, our own WORKBENCH_HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith(("_API_KEY", "_TOKEN", "_SECRET")) and not k.startswith("GIT_")
    }
    env["WORKBENCH_HOME"] = str(home)
    env.update(extra)
    return env


def run_wb(*args: str, home: Path, timeout: float = 900, env_extra=None, cwd=None):
    """`python -m workbench ARGS` as a user runs it."""
    env = clean_env(home, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file below root (relative posix path -> bytes), .git excluded."""
    out: dict[str, bytes] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for f in filenames:
            p = Path(dirpath) / f
            if p.is_file() and not p.is_symlink():
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def all_bytes_below(root: Path) -> bytes:
    """Everything stored below root, including git objects (decompressed) and databases."""
    import zlib

    chunks = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for f in filenames:
            p = Path(dirpath) / f
            if p.is_symlink() or not p.is_file():
                continue
            data = p.read_bytes()
            chunks.append(data)
            if "/.git/objects/" in p.as_posix():
                try:
                    chunks.append(zlib.decompress(data))
                except zlib.error:
                    pass
    return b"\n".join(chunks)


def spec_text(**overrides: str) -> str:
    """The fixture spec with front-matter lines replaced (key -> full new line)."""
    text = FIXTURE_SPEC.read_text(encoding="utf-8")
    for key, line in overrides.items():
        lines = text.splitlines(keepends=True)
        for i, ln in enumerate(lines):
            if ln.startswith(f"{key}:"):
                lines[i] = line + "\n"
                break
        text = "".join(lines)
    return text


# wb_home: the root tests/conftest.py's (a private WORKBENCH_HOME per test)
