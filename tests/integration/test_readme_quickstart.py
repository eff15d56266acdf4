"""The README's offline quickstart, replayed line by line as a newcomer types it.

Each line of the block runs in a shell, in an empty directory, with `workbench` being
the real command. The only substitutions are the ones the README tells the reader to
make: `<session>` is the id the first command printed, `<sha>` the hash the last gate
printed, and `$EDITOR` is an editor that completes the spec the way a developer would
(it writes the requirements and acceptance criteria). Each line's stated exit code
(`(exit N)` in its comment) is checked; a line without one must exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

EDITOR = r'''#!/usr/bin/env python3
import re, sys
p = sys.argv[1]
text = open(p, encoding="utf-8").read()
text = re.sub(r"## Requirements\n\n.*?\n\n", "## Requirements\n\n- `count FILE` prints the number of words in FILE.\n\n", text, flags=re.S)
text = re.sub(r"## Acceptance criteria\n\n.*", "## Acceptance criteria\n\n- `count` of a file holding `a b c` prints 3.\n", text, flags=re.S)
open(p, "w", encoding="utf-8").write(text)
'''


def quickstart_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Headless, offline"):]
    block = section[section.index("```bash\n") + len("```bash\n"):]
    block = block[:block.index("```")]
    return [line for line in block.splitlines() if line.strip()]


def test_the_quickstart_runs_verbatim_offline(tmp_path):
    lines = quickstart_lines()
    assert len(lines) >= 6 and lines[0].startswith("workbench new ")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wb = bindir / "workbench"
    wb.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m workbench \"$@\"\n")
    editor = bindir / "editor"
    editor.write_text(EDITOR)
    for f in (wb, editor):
        f.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(WORKBENCH_HOME=str(tmp_path / "home"), EDITOR=str(editor),
               PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT))
    session = sha = None
    for line in lines:
        command, _, comment = line.partition("  #")
        expected = int(m.group(1)) if (m := re.search(r"\(exit (\d)\)", comment)) else 0
        if "<session>" in command:
            assert session, f"no session id printed before: {line}"
            command = command.replace("<session>", session)
        if "<sha>" in command:
            assert sha, f"no hash printed before: {line}"
            command = command.replace("<sha>", sha)
        r = subprocess.run(["sh", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        out = r.stdout + r.stderr
        assert r.returncode == expected, f"{line}\n-> exit {r.returncode}\n{out[-3000:]}"
        if session is None and (m := re.search(r"^session ([0-9a-f]{12})", r.stdout, re.M)):
            session = m.group(1)
        if m := re.findall(r"--approve ([0-9a-f]{12,64})", out):
            sha = m[-1]
    project = work / "wc"
    assert (project / ".git").is_dir() and (project / "pyproject.toml").is_file()
    status = subprocess.run(["git", "-C", str(project), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""
    assert "prints the number of words" in (project / "docs" / "spec.md").read_text(encoding="utf-8")
