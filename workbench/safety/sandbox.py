"""Run generated code (its tests, its linters, the repair loop) in a sandbox.

Under bubblewrap: no network (``--unshare-net``), the host read-only
(``--ro-bind / /``), only the project directory, the extra `writable` paths and a
private ``/tmp`` writable, credential directories (``~/.ssh``, ``~/.aws`` ...)
hidden, its own PID namespace (everything dies with it), a memory limit
(RLIMIT_AS, set by a tiny exec wrapper inside the sandbox -- thread-safe, no
``preexec_fn``), a time limit that kills the whole process group, and an
environment without keys.

Where bubblewrap is missing or does not work (no user namespaces in a container),
`run` raises `SandboxUnavailable` unless ``allow_unsandboxed=True``; then the
command runs with the same environment scrubbing, rlimits and timeout but no
isolation, and ``RunResult.sandbox`` is ``"none"`` so the audit can record it.

``WORKBENCH_BWRAP`` overrides the bubblewrap binary (``none`` pretends it is
missing; used by tests).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.safety import redact as _redact

MAX_OUTPUT = 1_000_000  # characters of output kept (head and tail)
DEFAULT_FSIZE_MB = 1024  # largest file a sandboxed process may write


class SandboxUnavailable(WorkbenchError):
    """bubblewrap is missing or unusable and running unsandboxed was not allowed."""

    exit_code = 1


@dataclass
class RunResult:
    exit_code: int
    output: str
    duration_s: float
    timed_out: bool
    sandbox: str  # "bwrap" or "none"
    cmd: list[str] = field(default_factory=list)
    memory_mb: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


# --- environment -------------------------------------------------------------

_STRIP_PREFIXES = ("AWS_", "AZURE_", "LITELLM_", "GOOGLE_APPLICATION_CREDENTIALS", "GCLOUD_")
_STRIP_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_PASSWD", "_CREDENTIALS")
_STRIP_CONTAINS = ("API_KEY", "SECRET", "TOKEN", "PASSWORD", "CREDENTIAL")
_STRIP_NAMES = frozenset(
    {
        "SSH_AUTH_SOCK",
        "GPG_AGENT_INFO",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "NETRC",
        "DOCKER_AUTH_CONFIG",
        "KUBECONFIG",
        "PYPI_PASSWORD",
        "TWINE_PASSWORD",
        "TWINE_USERNAME",
        "NPM_CONFIG__AUTH",
        "DBUS_SESSION_BUS_ADDRESS",
    }
)


def _is_secret_var(name: str, value: str, extra_env: Iterable[str] = ()) -> bool:
    up = name.upper()
    if (
        up in _STRIP_NAMES
        or up.startswith(_STRIP_PREFIXES)
        or up.endswith(_STRIP_SUFFIXES)
        or any(s in up for s in _STRIP_CONTAINS)
        or _redact.is_key_env_name(name, extra_env)
    ):
        return True
    # A value shaped like a key (sk-ant-..., ghp_...) is a key whatever its name.
    return bool(value) and _redact.redact(value) != value


def scrub_env(
    env: Mapping[str, str] | None = None, extra_env: Iterable[str] = ()
) -> dict[str, str]:
    """A copy of `env` (default os.environ) without keys, tokens or credentials."""
    base = os.environ if env is None else env
    extra = tuple(extra_env)
    return {k: v for k, v in base.items() if not _is_secret_var(k, v, extra)}


def _build_env(env: Mapping[str, str | None] | None, home: str, tmp: str) -> dict[str, str]:
    merged: dict[str, str | None] = dict(os.environ)
    if env:
        merged.update(env)
    clean = scrub_env({k: v for k, v in merged.items() if v is not None})
    clean.update(
        {
            "HOME": home,
            "TMPDIR": tmp,
            "XDG_CACHE_HOME": os.path.join(home, ".cache"),
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "GIT_TERMINAL_PROMPT": "0",
        }
    )
    clean.setdefault("PATH", os.defpath)
    clean.setdefault("LANG", "C.UTF-8")
    return clean


# --- bubblewrap --------------------------------------------------------------


def bwrap_path() -> str | None:
    override = os.environ.get("WORKBENCH_BWRAP")
    if override is not None:
        if override.strip().lower() in ("", "none", "0", "off", "false"):
            return None
        return override if os.path.exists(override) else None
    return shutil.which("bwrap")


_BASE_FLAGS = [
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
    "--tmpfs", "/tmp",
    "--tmpfs", "/var/tmp",
    "--unshare-net",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--hostname", "sandbox",
]  # fmt: skip


# Privilege flags, strongest first. Run as root, bwrap would otherwise leave the
# sandboxed process its capabilities (it could remount / read-write): every
# candidate must prove inside the sandbox that no capability is left.
_PRIV_CANDIDATES: list[list[str]] = [
    ["--unshare-user", "--cap-drop", "ALL"],
    ["--cap-drop", "ALL"],
    [],  # non-root with a setuid/userns bwrap: no capabilities anyway (checked)
]
_PROBE_SCRIPT = (
    "grep -q '^CapEff:[[:space:]]*0*$' /proc/self/status || "
    "{ echo 'the sandboxed process keeps capabilities'; exit 3; }; exit 0"
)


@lru_cache(maxsize=8)
def _probe_flags(bwrap: str | None) -> tuple[tuple[str, ...] | None, str]:
    if not bwrap:
        return None, "bubblewrap (bwrap) is not installed"
    detail = ""
    for priv in _PRIV_CANDIDATES:
        try:
            p = subprocess.run(
                [bwrap, *_BASE_FLAGS, *priv, "--", "/bin/sh", "-c", _PROBE_SCRIPT],
                check=False,
                capture_output=True,
                text=True,
                timeout=20,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError) as e:
            return None, f"bubblewrap could not be started: {e}"
        if p.returncode == 0:
            return tuple(priv), "bubblewrap works"
        msg = (p.stderr or p.stdout).strip().splitlines()
        detail = msg[-1] if msg else f"exit {p.returncode}"
    return None, f"bubblewrap does not work here ({detail}); user namespaces may be disabled"


def _probe(bwrap: str | None) -> tuple[bool, str]:
    flags, reason = _probe_flags(bwrap)
    return flags is not None, reason


def sandbox_status() -> tuple[bool, str]:
    """(available, reason) for the bubblewrap sandbox on this machine."""
    return _probe(bwrap_path())


def sandbox_available() -> bool:
    return sandbox_status()[0]


def _credential_paths() -> list[str]:
    home = os.path.expanduser("~")
    rels = [
        ".ssh", ".aws", ".azure", ".gnupg", ".docker", ".kube", ".netrc",
        ".git-credentials", ".pypirc", ".npmrc", ".config/gcloud", ".config/gh",
        ".config/hub", ".config/litellm", ".config/workbench", ".local/share/workbench",
    ]  # fmt: skip
    out = [os.path.join(home, r) for r in rels]
    wb_home = os.environ.get("WORKBENCH_HOME")
    if wb_home:
        out.append(os.path.expanduser(wb_home))
    return out


def _is_under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _hide_flags(keep: list[str]) -> list[str]:
    flags: list[str] = []
    for p in _credential_paths():
        rp = os.path.realpath(p)
        # Never hide something that must stay visible (the project, a writable path).
        if any(_is_under(k, rp) or _is_under(rp, k) for k in keep):
            continue
        if os.path.isdir(rp):
            flags += ["--tmpfs", rp]
        elif os.path.exists(rp):
            flags += ["--ro-bind", "/dev/null", rp]
    return flags


_WRAPPER = (
    "import os,resource,sys\n"
    "def lim(r,v):\n"
    "    try:\n"
    "        s,h=resource.getrlimit(r)\n"
    "        v=v if h==resource.RLIM_INFINITY else min(v,h)\n"
    "        resource.setrlimit(r,(v,v))\n"
    "    except (ValueError,OSError):\n"
    "        pass\n"
    "a=int(sys.argv[1]);f=int(sys.argv[2])\n"
    "if a>0: lim(resource.RLIMIT_AS,a)\n"
    "if f>0: lim(resource.RLIMIT_FSIZE,f)\n"
    "lim(resource.RLIMIT_CORE,0)\n"
    "try:\n"
    "    os.execvp(sys.argv[3],sys.argv[3:])\n"
    "except FileNotFoundError:\n"
    "    sys.stderr.write('workbench sandbox: command not found: %s\\n'%sys.argv[3]);os._exit(127)\n"
    "except PermissionError:\n"
    "    sys.stderr.write('workbench sandbox: permission denied: %s\\n'%sys.argv[3]);os._exit(126)\n"
)


def _wrap_limits(cmd: list[str], memory_mb: int, fsize_mb: int) -> list[str]:
    return [
        sys.executable,
        "-I",
        "-S",
        "-c",
        _WRAPPER,
        str(int(memory_mb) * 1024 * 1024 if memory_mb else 0),
        str(int(fsize_mb) * 1024 * 1024 if fsize_mb else 0),
        *cmd,
    ]


def _read_output(path: str) -> str:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            if size <= MAX_OUTPUT:
                data = fh.read()
            else:
                head = fh.read(MAX_OUTPUT // 2)
                fh.seek(size - MAX_OUTPUT // 2)
                tail = fh.read()
                data = head + f"\n… [{size - MAX_OUTPUT} bytes of output cut] …\n".encode() + tail
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except OSError:
        pass


_SHADOWED = ("/tmp", "/var/tmp")  # fresh tmpfs inside the sandbox


def _tool_paths(cmd: list[str]) -> list[str]:
    """Interpreter and tool folders that live under a path the sandbox replaces with a
    tmpfs (a checkout or virtualenv in /tmp): bound back read-only so they still run."""
    import shutil
    import sys

    found = set()
    exe = cmd[0] if os.sep in cmd[0] else (shutil.which(cmd[0]) or cmd[0])
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.abspath(exe)),
              os.path.dirname(os.path.realpath(exe)), os.path.dirname(os.path.realpath(sys.executable))):
        real = os.path.realpath(p)
        if os.path.isdir(real) and any(_is_under(real, t) for t in _SHADOWED):
            found.add(real)
            # a virtualenv: its whole tree (site-packages beside bin/)
            if os.path.basename(real) == "bin" and os.path.exists(os.path.join(real, "..", "pyvenv.cfg")):
                found.add(os.path.realpath(os.path.join(real, "..")))
    # the outermost of nested paths is enough
    keep = [p for p in sorted(found) if not any(p != q and _is_under(p, q) for q in found)]
    return keep


def run(
    cmd: list[str],
    cwd: Path,
    *,
    timeout: float,
    memory_mb: int = 2048,
    writable: Iterable[Path] = (),
    env: Mapping[str, str | None] | None = None,
    allow_unsandboxed: bool = False,
    fsize_mb: int = DEFAULT_FSIZE_MB,
) -> RunResult:
    """Run `cmd` in `cwd` under the sandbox; never raises for the command's own failure.

    `env` holds variables merged onto a scrubbed copy of os.environ (a value of
    None removes one); keys are stripped afterwards either way. Output (stdout and
    stderr interleaved) is redacted before it is returned.
    """
    if not cmd:
        raise WorkbenchError("sandbox.run: empty command")
    cmd = [os.fspath(c) for c in cmd]
    cwd_real = os.path.realpath(os.fspath(cwd))
    if not os.path.isdir(cwd_real):
        raise WorkbenchError(f"cannot run {cmd[0]}: working directory {cwd} does not exist")
    writable_real = []
    for w in writable:
        wr = os.path.realpath(os.fspath(w))
        if not os.path.exists(wr):
            raise WorkbenchError(f"cannot run {cmd[0]}: writable path {w} does not exist")
        if wr == "/":
            raise WorkbenchError("refusing to make / writable inside the sandbox")
        writable_real.append(wr)

    bwrap = bwrap_path()
    ok, reason = _probe(bwrap)
    if not ok and not allow_unsandboxed:
        raise SandboxUnavailable(
            f"{reason}: refusing to run generated code ({' '.join(cmd[:3])}) without a "
            "sandbox; install bubblewrap, or allow unsandboxed runs explicitly "
            "(--allow-unsandboxed)"
        )

    with tempfile.TemporaryDirectory(prefix="wb-sandbox-") as scratch:
        out_path = os.path.join(scratch, "output")
        if ok:
            home, tmp = "/tmp/home", "/tmp"
            priv = list(_probe_flags(bwrap)[0] or ())
            full = [bwrap, *_BASE_FLAGS, *priv, "--dir", home]
            full += _hide_flags([cwd_real, *writable_real])
            for r in _tool_paths(cmd):  # read-only again where a tmpfs would hide them
                full += ["--ro-bind", r, r]
            for w in [cwd_real, *writable_real]:
                full += ["--bind", w, w]
            full += ["--chdir", cwd_real, "--"]
            full += _wrap_limits(cmd, memory_mb, fsize_mb)
            kind = "bwrap"
        else:
            home = os.path.join(scratch, "home")
            tmp = os.path.join(scratch, "tmp")
            os.makedirs(home)
            os.makedirs(tmp)
            full = _wrap_limits(cmd, memory_mb, fsize_mb)
            kind = "none"
        run_env = _build_env(env, home, tmp)

        start = time.monotonic()
        timed_out = False
        with open(out_path, "wb") as out:
            try:
                proc = subprocess.Popen(
                    full,
                    cwd=cwd_real,
                    env=run_env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as e:
                raise WorkbenchError(f"cannot run {cmd[0]}: {e.strerror or e}") from None
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                code = proc.wait()
            except BaseException:
                _kill_group(proc)
                proc.wait()
                raise
            finally:
                # Whatever is left in the group (an unsandboxed child that outlived
                # its parent) goes too.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        duration = time.monotonic() - start
        output = _redact.redact(_read_output(out_path))

    note = "" if ok else reason
    if timed_out:
        output += f"\n[workbench: killed after the {timeout:g}s time limit]\n"
    return RunResult(
        exit_code=code,
        output=output,
        duration_s=duration,
        timed_out=timed_out,
        sandbox=kind,
        cmd=cmd,
        memory_mb=memory_mb,
        note=note,
    )


def clean_env(extra_env: Iterable[str] = ()) -> dict[str, str]:
    """os.environ without keys, tokens or credentials (for any child process)."""
    return scrub_env(None, extra_env)
