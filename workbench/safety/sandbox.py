"""Run generated code (its tests, its linters, the repair loop) in a sandbox.

Under bubblewrap: no network (``--unshare-net``), an allow-list filesystem: a
read-only ``/usr`` (with ``/bin``, ``/lib*``), a minimal ``/etc`` (no
``shadow``, ``sudoers``, ssh or git configuration), the interpreter, virtualenv and
tool folders bound back read-only, and nothing else of the host -- no home
directory, no ``/root``, no other project, no Workbench home or database; only
the working directory, the extra `writable` paths and a private ``/tmp`` are
writable. Its own PID namespace (everything dies with it), a time limit that kills
the whole process group, and an environment without keys.

Limits hold per run where the machine allows it: a cgroup (v2 ``memory.max`` /
``pids.max``, or the v1 memory and pids controllers) that the whole sandbox is put
in before it starts; else per process (RLIMIT_AS, RLIMIT_NPROC). `RunResult.limits`
says which protection was in force (``"cgroup"`` or ``"rlimit"``), for the audit.

The processes Workbench starts die with it (PR_SET_PDEATHSIG, bubblewrap's
``--die-with-parent``); its temporary folders carry the owner's pid and start time
(`temp_prefix`), so a later run removes those of a killed one (`sweep_stale`).

Where bubblewrap is missing or does not work (no user namespaces in a container),
`run` raises `SandboxUnavailable` unless ``allow_unsandboxed=True``; then the
command runs with the same environment scrubbing, limits and timeout but no
isolation, and ``RunResult.sandbox`` is ``"none"`` so the audit can record it.

``WORKBENCH_BWRAP`` overrides the bubblewrap binary (``none`` pretends it is
missing; used by tests). ``WORKBENCH_CGROUP=off`` disables the cgroup.
"""

from __future__ import annotations

import glob
import os
import re
import select
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
from workbench.safety import fs as _fs
from workbench.safety import redact as _redact

MAX_OUTPUT = 1_000_000  # characters of output kept (head and tail)
DEFAULT_FSIZE_MB = 1024  # largest file a sandboxed process may write
DEFAULT_PIDS = 256  # processes and threads of one run (cgroup pids.max, else RLIMIT_NPROC)
PROMPT_LIMIT = 20_000  # characters of test output that may go into a model's prompt


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
    limits: str = ""  # "cgroup" (memory and pids per run) or "rlimit" (per process)

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


# What of Workbench's own environment generated code may see: an allow-list, so a
# token in a variable no pattern knows (GH_PAT, SENTRY_DSN ...) never reaches it, nor
# a test output that a repair prompt would carry to a model.
_ENV_ALLOWED = frozenset({
    "PATH", "LANG", "LANGUAGE", "TERM", "TZ", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR",
    "SOURCE_DATE_EPOCH", "PYTHONHASHSEED", "PYTHONUTF8", "PYTHONIOENCODING",
})


def _build_env(env: Mapping[str, str | None] | None, home: str, tmp: str) -> dict[str, str]:
    merged: dict[str, str | None] = {k: v for k, v in os.environ.items()
                                     if k in _ENV_ALLOWED or k.startswith("LC_")}
    if env:  # what the caller (Workbench itself) sets for this run
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


_NS_FLAGS = [
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

# The host as the sandbox sees it: an allow-list, not a deny-list. The root is an
# empty tmpfs; these are bound back read-only (a merged-/usr symlink stays a symlink).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What of /etc programs need (users, the dynamic linker, time zone, certificates,
# Debian's alternatives); not shadow, sudoers, ssh, gitconfig, pip.conf, machine-id ...
_ETC_ALLOWED = (
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "alternatives",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "mime.types",
    "os-release",
    "debian_version",
    "lsb-release",
    "locale.alias",
    "locale.conf",
    "protocols",
    "services",
    "bash.bashrc",
    "profile",
    "inputrc",
    "environment",
    "shells",
    "terminfo",
    "magic",
    "papersize",
    "xdg",
)


def _fs_flags() -> list[str]:
    flags: list[str] = []
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            flags += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            flags += ["--ro-bind", d, d]
    flags += ["--dir", "/etc"]
    for name in _ETC_ALLOWED:
        path = os.path.join("/etc", name)
        if os.path.islink(path):
            flags += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            flags += ["--ro-bind", path, path]
    for python in glob.glob("/etc/python3*"):  # Debian's sitecustomize
        flags += ["--ro-bind", python, python]
    return flags


def _base_flags() -> list[str]:
    return [*_fs_flags(), *_NS_FLAGS]


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
                [bwrap, *_base_flags(), *priv, "--", "/bin/sh", "-c", _PROBE_SCRIPT],
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


def _private_paths() -> list[str]:
    """What stays hidden even inside a folder the sandbox sees: credentials, every
    Workbench home, config directory and database this process knows of."""
    home = os.path.expanduser("~")
    rels = [
        ".ssh", ".aws", ".azure", ".gnupg", ".docker", ".kube", ".netrc", ".gitconfig",
        ".git-credentials", ".pypirc", ".npmrc", ".config/gcloud", ".config/gh", ".config/git",
        ".config/hub", ".config/litellm", ".config/workbench", ".local/share/workbench",
    ]  # fmt: skip
    out = [os.path.join(home, r) for r in rels]
    wb_home = os.environ.get("WORKBENCH_HOME")
    if wb_home:
        out.append(os.path.expanduser(wb_home))
    try:
        from workbench import paths

        out += [str(paths.db_path().parent), str(paths.config_path().parent)]
    except Exception:  # noqa: BLE001 - platformdirs missing: the homes above still count
        pass
    return out


def refuse_private_out(out: str | os.PathLike, flag: str = "--out") -> None:
    """A project may not live inside a Workbench home or the database's folder: the
    sandbox would show generated code the database. Raises UsageError (exit 2)."""
    from workbench.errors import UsageError

    target = os.path.realpath(os.path.expanduser(os.fspath(out)))
    homes = {}
    wb_home = os.environ.get("WORKBENCH_HOME")
    if wb_home:
        homes[os.path.realpath(os.path.expanduser(wb_home))] = "the Workbench home (WORKBENCH_HOME)"
    try:
        from workbench import paths

        homes.setdefault(os.path.realpath(paths.db_path().parent), "the folder of Workbench's database")
        homes.setdefault(os.path.realpath(paths.config_path().parent), "Workbench's config folder")
    except Exception:  # noqa: BLE001 - platformdirs missing: WORKBENCH_HOME is still checked
        pass
    for home, what in homes.items():
        if _is_under(target, home):
            raise UsageError(f"{flag} {out}: inside {what} {home}; choose a folder outside it "
                             "(generated code must not see the database)")


def _is_under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _databases(folder: str) -> list[str]:
    return glob.glob(os.path.join(glob.escape(folder), "workbench.db*"))


def _hide_flags(mounted: list[str], keep: list[str]) -> list[str]:
    """Mask private paths that a bound folder (`mounted`) would show. A private folder
    that holds a kept path (the project) keeps that path; its databases are masked."""
    flags: list[str] = []
    for p in dict.fromkeys(os.path.realpath(p) for p in _private_paths()):
        if not any(_is_under(p, m) for m in mounted):
            continue  # not visible in the sandbox at all
        if any(_is_under(k, p) and k != p for k in keep):
            files = [*_databases(p), os.path.join(p, "config.toml")]
            flags += [f for f in files if os.path.isfile(f) for f in ("--ro-bind", "/dev/null", f)]
        elif os.path.isdir(p):
            flags += ["--tmpfs", p]
        elif os.path.exists(p):
            flags += ["--ro-bind", "/dev/null", p]
    for k in keep:  # a database that someone put inside the project or a writable folder
        flags += [
            f for db in _databases(k) if os.path.isfile(db) for f in ("--ro-bind", "/dev/null", db)
        ]
    return flags


# Inside the sandbox: per-process limits, then exec the command.
_WRAPPER = (
    "import os,resource,sys\n"
    "def lim(r,v):\n"
    "    try:\n"
    "        s,h=resource.getrlimit(r)\n"
    "        v=v if h==resource.RLIM_INFINITY else min(v,h)\n"
    "        resource.setrlimit(r,(v,v))\n"
    "    except (ValueError,OSError):\n"
    "        pass\n"
    "a=int(sys.argv[1]);f=int(sys.argv[2]);n=int(sys.argv[3])\n"
    "if a>0: lim(resource.RLIMIT_AS,a)\n"
    "if f>0: lim(resource.RLIMIT_FSIZE,f)\n"
    "if n>0: lim(resource.RLIMIT_NPROC,n)\n"
    "lim(resource.RLIMIT_CORE,0)\n"
    "try:\n"
    "    os.execvp(sys.argv[4],sys.argv[4:])\n"
    "except FileNotFoundError:\n"
    "    sys.stderr.write('workbench sandbox: command not found: %s\\n'%sys.argv[4]);os._exit(127)\n"
    "except PermissionError:\n"
    "    sys.stderr.write('workbench sandbox: permission denied: %s\\n'%sys.argv[4]);os._exit(126)\n"
)

# Outside the sandbox, first: die with Workbench (PR_SET_PDEATHSIG), wait until the
# parent has put this process in the run's cgroup (a byte on a pipe), then exec.
_LAUNCHER = (
    "import os,sys\n"
    "try:\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None).prctl(1,9,0,0,0)\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid()!=int(sys.argv[1]):\n"
    "    os._exit(137)\n"
    "r=int(sys.argv[2])\n"
    "if r>=0:\n"
    "    go=os.read(r,1)\n"
    "    os.close(r)\n"
    "    if go!=b'1':\n"
    "        os._exit(125)\n"
    "os.execvp(sys.argv[3],sys.argv[3:])\n"
)


def _wrap_limits(cmd: list[str], memory_mb: int, fsize_mb: int, nproc: int = 0) -> list[str]:
    return [
        sys.executable,
        "-I",
        "-S",
        "-c",
        _WRAPPER,
        str(int(memory_mb) * 1024 * 1024 if memory_mb else 0),
        str(int(fsize_mb) * 1024 * 1024 if fsize_mb else 0),
        str(int(nproc)),
        *cmd,
    ]


def launcher(cmd: list[str], go_fd: int = -1) -> list[str]:
    """`cmd` behind the launcher: it dies with this process (PR_SET_PDEATHSIG), and with
    `go_fd` waits for a go-ahead byte first. For any child Workbench starts."""
    return [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), str(go_fd), *cmd]


def _user_tasks() -> int:
    """Processes and threads of this user (what RLIMIT_NPROC counts), best effort."""
    uid, count = os.getuid(), 0
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0
    for pid in pids:
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return count


# --- owned temporaries and stale ones -------------------------------------------

_OWNED_RE = re.compile(
    r"^(?:wb-sandbox|workbench-tests|workbench-venv|workbench-check|wb-run)-(\d+)\.(\d+)-"
)


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
        return stat.rsplit(")", 1)[1].split()[19]  # field 22: start time in clock ticks
    except (OSError, IndexError):
        return None


def owner_tag() -> str:
    """`pid.starttime` of this process: a temporary named with it is stale once that
    exact process is gone (a reused pid has another start time)."""
    return f"{os.getpid()}.{_start_time(os.getpid()) or 0}"


def temp_prefix(kind: str) -> str:
    """The prefix of a temporary folder this process owns (`kind` like "wb-sandbox")."""
    return f"{kind}-{owner_tag()}-"


def _owner_alive(pid: int, start: str) -> bool:
    now = _start_time(pid)
    if now is not None:
        return now == start
    if os.path.isdir("/proc/self"):
        return False  # /proc works and the pid is gone
    return _fs.process_alive(pid)


def sweep_stale(folders: Iterable[str] | None = None) -> list[str]:
    """Remove the temporaries and cgroups of Workbench processes that died without
    cleaning up (kill -9). Returns what was removed."""
    removed: list[str] = []
    where = list(folders) if folders is not None else [tempfile.gettempdir()]
    for folder in where:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            m = _OWNED_RE.match(name)
            if not m or _owner_alive(int(m.group(1)), m.group(2)):
                continue
            path = os.path.join(folder, name)
            if name.startswith("wb-run-"):
                if _Cgroup([path]).close():
                    removed.append(path)
                continue
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.lexists(path):
                removed.append(path)
    if folders is None:
        removed += sweep_stale(_cgroup_parents())
    return removed


_swept = False


def _sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        sweep_stale()


# --- cgroups: limits per run ---------------------------------------------------------


def _mounts() -> list[tuple[str, str, str, str]]:
    """(mount root, mount point, fs type, super options) of each cgroup mount."""
    out = []
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                pre, _, post = line.partition(" - ")
                fields, tail = pre.split(), post.split()
                if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                    out.append((fields[3], fields[4].replace("\\040", " "), tail[0], tail[2]))
    except OSError:
        pass
    return out


def _own_cgroups() -> dict[str, str]:
    """Controller ('' for the v2 hierarchy) -> this process's cgroup path."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    for c in parts[1].split(",") if parts[1] else [""]:
                        out[c] = parts[2]
    except OSError:
        pass
    return out


def _cgroup_dir(controller: str) -> str | None:
    """This process's cgroup folder in the v1 hierarchy of `controller`, or the v2 one."""
    own = _own_cgroups()
    path = own.get(controller)
    if path is None:
        return None
    for root, point, fstype, opts in _mounts():
        if (fstype == "cgroup2") != (controller == ""):
            continue
        if controller and controller not in opts.split(","):
            continue
        if not _is_under(path, root):
            continue
        rel = path[len(root.rstrip("/")) :].lstrip("/")
        folder = os.path.join(point, rel) if rel else point
        if os.path.isdir(folder):
            return folder
    return None


def _cgroup_parents() -> list[str]:
    return [d for d in (_cgroup_dir(""), _cgroup_dir("memory"), _cgroup_dir("pids")) if d]


def _v2_has(folder: str, controllers: tuple[str, ...]) -> bool:
    """Can a child of this v2 cgroup limit `controllers`? (enables them if allowed)"""
    ctl = os.path.join(folder, "cgroup.subtree_control")
    try:
        with open(ctl) as fh:
            on = fh.read().split()
    except OSError:
        return False
    missing = [c for c in controllers if c not in on]
    return not missing or _write(ctl, " ".join("+" + c for c in missing))


def _write(path: str, value: str) -> bool:
    try:
        with open(path, "w") as fh:
            fh.write(value)
        return True
    except OSError:
        return False


_cg_counter = iter(range(1, 1 << 62))


class _Cgroup:
    """The cgroup folders of one run (v2: one; v1: one per controller)."""

    def __init__(self, dirs: list[str], kind: str = ""):
        self.dirs = dirs
        self.kind = kind  # "cgroup" when memory and pids are both limited

    @classmethod
    def make(cls, memory_mb: int, pids: int) -> _Cgroup | None:
        if os.environ.get("WORKBENCH_CGROUP", "").strip().lower() in ("off", "0", "none", "false"):
            return None
        name = f"wb-run-{owner_tag()}-{next(_cg_counter)}"
        mem = str(int(memory_mb) * 1024 * 1024) if memory_mb else "max"
        v2 = _cgroup_dir("")
        if v2 and _v2_has(v2, ("memory", "pids")):
            group = cls._try(
                v2,
                name,
                [("memory.max", mem), ("pids.max", str(pids))],
                optional=[("memory.swap.max", "0")],
            )
            if group is not None:
                return group
        made = []
        for controller, limits, optional in (
            (
                "memory",
                [("memory.limit_in_bytes", mem if memory_mb else "-1")],
                [("memory.memsw.limit_in_bytes", mem if memory_mb else "-1")],
            ),
            ("pids", [("pids.max", str(pids))], []),
        ):
            parent = _cgroup_dir(controller)
            group = cls._try(parent, name, limits, optional) if parent else None
            if group is None:
                for g in made:
                    g.close()
                return None
            made.append(group)
        return cls([d for g in made for d in g.dirs], "cgroup")

    @classmethod
    def _try(cls, parent: str, name: str, limits, optional=()) -> _Cgroup | None:
        folder = os.path.join(parent, name)
        try:
            os.mkdir(folder)
        except OSError:
            return None
        group = cls([folder], "cgroup")
        if not all(_write(os.path.join(folder, f), v) for f, v in limits):
            group.close()
            return None
        for f, v in optional:
            _write(os.path.join(folder, f), v)
        return group

    def join(self, pid: int) -> bool:
        return all(_write(os.path.join(d, "cgroup.procs"), str(pid)) for d in self.dirs)

    def _procs(self, folder: str) -> list[int]:
        try:
            with open(os.path.join(folder, "cgroup.procs")) as fh:
                return [int(x) for x in fh.read().split()]
        except (OSError, ValueError):
            return []

    def oom_kills(self) -> int:
        """Processes the kernel killed at the memory limit (v2 memory.events, v1 oom_control)."""
        for folder in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    with open(os.path.join(folder, name)) as fh:
                        for line in fh:
                            key, _, value = line.partition(" ")
                            if key == "oom_kill" and value.strip().isdigit():
                                return int(value)
                except OSError:
                    continue
        return 0

    def close(self) -> bool:
        """Kill whatever is left in the run's cgroups and remove them."""
        gone = True
        for folder in self.dirs:
            _write(os.path.join(folder, "cgroup.kill"), "1")
            for _ in range(200):
                for pid in self._procs(folder):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    os.rmdir(folder)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
            gone = gone and not os.path.exists(folder)
        return gone


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


def for_prompt(output: str, limit: int = PROMPT_LIMIT) -> str:
    """Test output as it may go into a model's prompt: redacted, at most `limit`
    characters (its head and its tail, where the failures and the summary are)."""
    text = _redact.redact(output)
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n… [{len(text) - limit} characters of output cut] …\n{text[-tail:]}"


def _reopen_dirs(roots: Iterable[str]) -> None:
    """Give every directory that sandboxed code could write back its owner's rwx, without
    following a symlink. A folder it left read-only (with a symlink to a host file inside)
    would make a later rmtree fail, and Python's TemporaryDirectory cleanup before 3.11.8
    and 3.12.2 then chmods the symlink's target on the host (CVE-2023-6597)."""
    import stat

    def reopen(d: str) -> None:
        try:
            st = os.lstat(d)
            if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o700 != 0o700:
                os.chmod(d, stat.S_IMODE(st.st_mode) | 0o700)
        except OSError:
            pass

    for root in roots:
        reopen(root)
        for dirpath, dirnames, _files in os.walk(root):  # never descends into a symlink
            for d in dirnames:
                reopen(os.path.join(dirpath, d))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except OSError:
        pass


def _wait(proc: subprocess.Popen, timeout: float) -> int:
    """`proc.wait(timeout)` without its polling (sleeps of up to 50 ms between checks, so
    a run ended ~25 ms before it was seen): a pidfd wakes this at the child's exit."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # before Linux 5.3, or not Linux
        return proc.wait(timeout=timeout)
    try:
        # poll, not select: select refuses a descriptor >= FD_SETSIZE (1024), and a
        # Workbench holding many files open would have failed every run
        waiter = select.poll()
        waiter.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            waiter.poll(max(1, int(left * 1000 + 0.999)))  # ms, rounded up
    finally:
        os.close(fd)
    return proc.returncode


_VISIBLE = ("/usr", "/etc")  # already in the sandbox (the rest of _SYSTEM_DIRS point into /usr)


def _tool_paths(cmd: list[str], extra: Iterable[str] = ()) -> list[str]:
    """Interpreter, virtualenv and tool folders outside the system folders, bound back
    read-only so they run (a pyenv under /root, a checkout or virtualenv in /tmp).
    Never a folder that holds a home directory or a Workbench home."""
    found = set()
    exe = cmd[0] if os.sep in cmd[0] else (shutil.which(cmd[0]) or cmd[0])
    candidates = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        os.path.dirname(os.path.abspath(exe)),
        os.path.dirname(os.path.realpath(exe)),
        os.path.dirname(os.path.realpath(sys.executable)),
        *extra,
    ]
    forbidden = [
        os.path.realpath(os.path.expanduser("~")),
        "/home",
        "/root",
        *(os.path.realpath(p) for p in _private_paths()),
    ]
    for p in candidates:
        real = os.path.realpath(os.fspath(p))
        if not os.path.isdir(real) or any(_is_under(real, v) for v in _VISIBLE):
            continue
        if any(_is_under(f, real) for f in forbidden):
            continue  # binding it would show a home directory
        found.add(real)
        # a virtualenv: its whole tree (site-packages beside bin/)
        parent = os.path.dirname(real)
        if os.path.basename(real) == "bin" and os.path.exists(os.path.join(parent, "pyvenv.cfg")):
            if not any(_is_under(f, parent) for f in forbidden):
                found.add(parent)
    # the outermost of nested paths is enough
    return [p for p in sorted(found) if not any(p != q and _is_under(p, q) for q in found)]


def run(
    cmd: list[str],
    cwd: Path,
    *,
    timeout: float,
    memory_mb: int = 2048,
    writable: Iterable[Path] = (),
    readable: Iterable[Path] = (),
    env: Mapping[str, str | None] | None = None,
    allow_unsandboxed: bool = False,
    fsize_mb: int = DEFAULT_FSIZE_MB,
    pids: int = DEFAULT_PIDS,
) -> RunResult:
    """Run `cmd` in `cwd` under the sandbox; never raises for the command's own failure.

    Only `cwd` and `writable` are writable, `readable` folders are visible read-only.
    `memory_mb` and `pids` limit the whole run (a cgroup) where possible, else each
    process. `env` holds variables merged onto a scrubbed copy of os.environ (a value
    of None removes one); keys are stripped afterwards either way. Output (stdout and
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
    readable_real = [os.path.realpath(os.fspath(r)) for r in readable if os.path.exists(r)]

    bwrap = bwrap_path()
    ok, reason = _probe(bwrap)
    if not ok and not allow_unsandboxed:
        raise SandboxUnavailable(
            f"{reason}: refusing to run generated code ({' '.join(cmd[:3])}) without a "
            "sandbox; install bubblewrap, or allow unsandboxed runs explicitly "
            "(--allow-unsandboxed)"
        )
    _sweep_once()

    group = _Cgroup.make(memory_mb, pids)
    limits = group.kind if group is not None else "rlimit"
    # Per process besides: at most `pids` tasks more than the user already runs.
    nproc = _user_tasks() + pids
    with tempfile.TemporaryDirectory(prefix=temp_prefix("wb-sandbox")) as scratch:
        out_path = os.path.join(scratch, "output")
        if ok:
            home, tmp = "/tmp/home", "/tmp"
            priv = list(_probe_flags(bwrap)[0] or ())
            full = [bwrap, *_base_flags(), *priv, "--dir", home]
            tools = _tool_paths(cmd, readable_real)
            for r in tools:  # read-only, outside the system folders
                full += ["--ro-bind", r, r]
            keep = [cwd_real, *writable_real]
            for w in keep:
                full += ["--bind", w, w]
            full += _hide_flags([*tools, *keep], keep)
            full += ["--remount-ro", "/", "--chdir", cwd_real, "--"]
            full += _wrap_limits(cmd, memory_mb, fsize_mb, nproc)
            kind = "bwrap"
        else:
            home = os.path.join(scratch, "home")
            tmp = os.path.join(scratch, "tmp")
            os.makedirs(home)
            os.makedirs(tmp)
            full = _wrap_limits(cmd, memory_mb, fsize_mb, nproc)
            kind = "none"
        run_env = _build_env(env, home, tmp)

        start = time.monotonic()
        timed_out = False
        go_r, go_w = os.pipe()
        try:
            with open(out_path, "wb") as out:
                try:
                    proc = subprocess.Popen(
                        launcher(full, go_r),
                        cwd=cwd_real,
                        env=run_env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        close_fds=True,
                        pass_fds=(go_r,),
                    )
                except OSError as e:
                    raise WorkbenchError(f"cannot run {cmd[0]}: {e.strerror or e}") from None
                os.close(go_r)
                go_r = -1
                if group is not None and not group.join(proc.pid):
                    group.close()  # the cgroup cannot take the run: per-process limits only
                    group, limits = None, "rlimit"
                os.write(go_w, b"1")
                try:
                    code = _wait(proc, timeout)
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
        finally:
            for fd in (go_r, go_w):
                if fd >= 0:
                    os.close(fd)
            oom = group.oom_kills() if group is not None else 0
            if group is not None:
                group.close()
        duration = time.monotonic() - start
        _reopen_dirs([cwd_real, *writable_real])  # every process of the run is gone by now
        output = _redact.redact(_read_output(out_path))
        if oom:
            output += f"\n[workbench: {oom} process(es) killed at the run's {memory_mb} MB memory limit]\n"

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
        limits=limits,
    )


def clean_env(extra_env: Iterable[str] = ()) -> dict[str, str]:
    """os.environ without keys, tokens or credentials (for any child process)."""
    return scrub_env(None, extra_env)
