"""`--out` an existing empty directory or an empty mount point: all of the tree or
none of it, even under kill -9, and a resumed apply ends with the whole tree.

Before: an existing empty directory was filled entry by entry (a kill midway left half
a tree that no later run would touch), and an empty mount point failed every time
with "Invalid cross-device link"."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.errors import UsageError
from workbench.scaffold import apply as apply_mod
from workbench.scaffold import apply_plan, render_plan
from workbench.spec import parse_spec

from .conftest import FIXTURE_SPEC, ROOT


@pytest.fixture(scope="module")
def plan():
    return render_plan(parse_spec(FIXTURE_SPEC.read_text(encoding="utf-8")))


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def _expected(plan) -> dict[str, bytes]:
    return {p: f.content.encode("utf-8") for p, f in plan.files.items()}


def _cross_device(target: Path):
    """os.rename as if `target` were another filesystem (an empty Docker volume)."""
    real = os.rename
    inside = str(target) + os.sep

    def rename(src, dst, *a, **kw):
        s_in = os.fspath(src).startswith(inside) or os.fspath(src) == str(target)
        d_in = os.fspath(dst).startswith(inside) or os.fspath(dst) == str(target)
        if s_in != d_in:
            raise OSError(errno.EXDEV, "Invalid cross-device link", os.fspath(src))
        return real(src, dst, *a, **kw)

    return rename


def test_an_empty_mount_point_gets_the_whole_tree(tmp_path, plan, monkeypatch):
    target = tmp_path / "volume"
    target.mkdir()
    monkeypatch.setattr(os, "rename", _cross_device(target))
    apply_plan(plan, target)
    assert _files(target) == _expected(plan)
    assert [p.name for p in tmp_path.iterdir()] == ["volume"]  # no sibling build left


def test_a_real_tmpfs_mount_point_gets_the_whole_tree(tmp_path, plan):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a tmpfs")
    target = tmp_path / "mnt"
    target.mkdir()
    code = textwrap.dedent(f"""
        import json, os, sys
        from pathlib import Path
        from workbench.scaffold import apply_plan, render_plan
        from workbench.spec import parse_spec
        t = Path({str(target)!r})
        assert os.stat(t).st_dev != os.stat(t.parent).st_dev, "not a mount point"
        plan = render_plan(parse_spec(Path({str(FIXTURE_SPEC)!r}).read_text()))
        apply_plan(plan, t)
        files = {{}}
        for d, _, ns in os.walk(t):
            for n in ns:
                p = Path(d) / n
                files[str(p.relative_to(t))] = p.read_text()
        print(json.dumps(files))
    """)
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("unshare -m is not allowed here")
    out = subprocess.run(["unshare", "-m", "sh", "-c",
                          f"mount -t tmpfs none {target} && exec {sys.executable} -c \"$0\"", code],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == {p: f.content for p, f in plan.files.items()}


def test_an_existing_empty_dir_keeps_its_mode(tmp_path, plan):
    target = tmp_path / "out"
    target.mkdir(mode=0o750)
    os.chmod(target, 0o750)
    apply_plan(plan, target)
    assert _files(target) == _expected(plan)
    assert (target.stat().st_mode & 0o777) == 0o750


def test_the_current_directory_is_filled_in_place(tmp_path, plan, monkeypatch):
    """`--out .`: the directory itself is kept (the user's shell stays in it)."""
    target = tmp_path / "here"
    target.mkdir()
    inode = target.stat().st_ino
    monkeypatch.chdir(target)
    apply_plan(plan, Path("."))
    assert target.stat().st_ino == inode
    assert _files(target) == _expected(plan)


_KILLER = textwrap.dedent("""
    import errno, os, signal, sys
    from pathlib import Path
    from workbench.scaffold import apply_plan, render_plan
    from workbench.spec import parse_spec
    target, spec, kill_at, exdev = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
    plan = render_plan(parse_spec(spec.read_text()))
    real = os.rename
    inside = str(target) + os.sep
    calls = [0]
    def rename(src, dst, *a, **kw):
        s, d = os.fspath(src), os.fspath(dst)
        if exdev and (s.startswith(inside) or s == str(target)) != (d.startswith(inside) or d == str(target)):
            raise OSError(errno.EXDEV, "Invalid cross-device link", s)
        # only the renames that put the project into place (write_file renames its temporaries)
        if d == str(target) or (os.path.dirname(d) == str(target) and ".wb-tmp-" not in d
                                 and ".workbench-apply" not in d):
            calls[0] += 1
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst, *a, **kw)
    os.rename = rename
    apply_plan(plan, target)
""")


@pytest.mark.parametrize("exdev", [False, True], ids=["same-fs", "mount-point"])
@pytest.mark.parametrize("kill_at", [1, 2, 3])
def test_kill_9_while_moving_into_an_empty_dir_then_resume(tmp_path, plan, kill_at, exdev):
    target = tmp_path / "out"
    target.mkdir()
    p = subprocess.run([sys.executable, "-c", _KILLER, str(target), str(FIXTURE_SPEC),
                        str(kill_at), "1" if exdev else "0"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    visible = {k: v for k, v in _files(target).items() if not k.startswith(".workbench-")}
    if not exdev:  # one rename (no 2nd or 3rd to kill at): the whole project or none of it
        assert p.returncode in (0, -signal.SIGKILL), p.stderr
        assert visible in ({}, _expected(plan)), sorted(visible)
    else:  # moved entry by entry, journaled first
        assert p.returncode == -signal.SIGKILL, p.stderr
        assert (target / apply_mod.JOURNAL).is_file()
    if _files(target) != _expected(plan):  # what `workbench resume` does (engine._matches)
        apply_plan(plan, target)
    assert _files(target) == _expected(plan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_kill_before_the_journal_leaves_nothing_a_rerun_cannot_clean(tmp_path, plan, monkeypatch):
    target = tmp_path / "vol"
    target.mkdir()
    build = target / f"{apply_mod.INPLACE_MARK}999999-abcd"  # a dead pid's half build
    (build / "src").mkdir(parents=True)
    (build / "src" / "half.py").write_text("x")
    monkeypatch.setattr(os, "rename", _cross_device(target))
    apply_plan(plan, target)
    assert _files(target) == _expected(plan)


@pytest.mark.parametrize("entries", [["../escape"], ["a/b"], [".."], [""]])
def test_a_hostile_journal_is_refused(tmp_path, plan, entries):
    target = tmp_path / "t"
    (target / f"{apply_mod.INPLACE_MARK}1-ab").mkdir(parents=True)
    (target / apply_mod.JOURNAL).write_text(json.dumps(
        {"format": "workbench-apply/1", "pid": 999999, "tmp": f"{apply_mod.INPLACE_MARK}1-ab",
         "entries": entries}))
    with pytest.raises(UsageError) as err:
        apply_plan(plan, target)
    assert apply_mod.JOURNAL in str(err.value)
    assert not (tmp_path / "escape").exists()
