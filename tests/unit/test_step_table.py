"""One step table (workbench/lifecycle/steps.py): every step's phase, role, handler, and
whether it writes files or calls a model; no other module spells out a list of steps."""

from __future__ import annotations

import ast
import importlib
import inspect
import re

import pytest

from tests.support.codegraph import ROOT, modules
from workbench.lifecycle import steps
from workbench.lifecycle.steps import BY_ID, MODEL_STEPS, PHASES, ROLES, STEP_IDS, STEPS

DESIGN_ORDER = (
    "request analysis spec review approval implementation structure dependencies "
    "configuration tests docs git cicd codespace deploy monitor"
).split()
FOR_STEP = re.compile(r"provider\.for_step\(\s*[\"'](\w+)[\"']\s*\)")


def test_the_table_is_the_designs_sixteen_steps_in_order_with_two_gates():
    assert list(STEP_IDS) == DESIGN_ORDER
    assert [s.phase for s in STEPS] == sorted((s.phase for s in STEPS), key=PHASES.index)
    assert {s.id: s.gate for s in STEPS if s.gate} == {"approval": "spec", "docs": "plan"}
    assert all(s.role in ROLES for s in STEPS)
    assert steps.SCAFFOLD_STEPS == ("structure", "dependencies", "configuration", "tests", "docs")
    assert steps.INTEGRATION_FILE_STEPS == ("cicd", "codespace", "deploy")


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.id)
def test_each_handler_exists_in_the_module_of_its_phase(step):
    module, _, name = step.handler.partition(":")
    assert module.endswith(f".{step.phase}_steps"), step.handler
    fn = getattr(importlib.import_module(module), name)
    assert list(inspect.signature(fn).parameters) == ["eng", "sid"]


def _handler_source(step) -> str:
    """The handler's code, and that of the lifecycle functions it calls (transitively)."""
    module, _, name = step.handler.partition(":")
    todo, seen, out = [getattr(importlib.import_module(module), name)], set(), []
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        src = inspect.getsource(fn)
        out.append(src)
        where = importlib.import_module(fn.__module__)
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                callee = getattr(where, node.func.id, None)
                if inspect.isfunction(callee) and callee.__module__.startswith("workbench.lifecycle."):
                    todo.append(callee)
    return "\n".join(out)


def test_calls_model_is_what_the_handlers_do():
    """A step calls a model when its handler asks the provider for an agent: the table
    says so for exactly those (monitor calls none; tests does, for the repair loop)."""
    asked = {s.id for s in STEPS if set(FOR_STEP.findall(_handler_source(s))) & {s.id}}
    assert asked == {s.id for s in STEPS if s.calls_model}
    assert MODEL_STEPS == ("analysis", "spec", "review", "implementation", "tests")
    # and no handler asks for the agent of another step
    for s in STEPS:
        assert set(FOR_STEP.findall(_handler_source(s))) <= {s.id}, s.id


def test_writes_files_is_what_the_handlers_do():
    """Only the steps marked writes_files reach a writing function of the project."""
    writers = ("apply_plan", "write_plan_files", "write_file", "commit(", "git.init")
    for s in STEPS:
        src = _handler_source(s)
        assert any(w in src for w in writers) == s.writes_files, s.id


def test_roles_are_the_ones_the_agents_record():
    from workbench.llm.registry import ROLE_OF_STEP

    assert ROLE_OF_STEP == {
        "analysis": "tool_builder", "spec": "tool_builder", "implementation": "tool_builder",
        "tests": "tool_builder", "review": "reviewer", "git": "infrastructure",
        "cicd": "infrastructure", "codespace": "infrastructure", "deploy": "infrastructure",
        "monitor": "learning",
    }
    assert steps.agent_actor("review") == "agent:reviewer"
    assert steps.agent_actor("structure") == "agent:tool_builder"
    assert BY_ID["docs"].role == "templates" and BY_ID["approval"].role == "human"


def step_lists(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """The tuples, lists, sets and dict keys that spell out three or more step ids."""
    found = []
    ids = set(STEP_IDS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            elts = node.elts
        elif isinstance(node, ast.Dict):
            elts = [k for k in node.keys if k is not None]
        else:
            continue
        strings = [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        named = [v for v in strings if v in ids]
        if len(named) >= 3 and len(named) == len(strings):  # not a list of other names (show WHAT)
            found.append((node.lineno, named))
    return found


def test_no_module_but_the_step_table_spells_out_a_list_of_steps():
    offenders = []
    for mod, path in modules().items():
        if mod == "workbench.lifecycle.steps":
            continue
        for line, named in step_lists(ast.parse(path.read_text("utf-8"))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {', '.join(named)}")
    assert offenders == [], "derive these from workbench.lifecycle.steps:\n" + "\n".join(offenders)


def test_the_scan_sees_a_list_of_steps():
    """The check above can fail: it finds a tuple and a dict of step ids; a collection
    holding other names too (a set with "x", the `show WHAT` choices) is something else."""
    code = ('A = ("cicd", "codespace", "deploy")\nB = {"spec", "review", "tests", "x"}\n'
            'C = {"git": 1, "cicd": 2, "monitor": 3}\nD = ("spec", "plan")\n'
            'E = ["steps", "spec", "analysis", "findings", "tests"]\n')
    assert [line for line, _ in step_lists(ast.parse(code))] == [1, 3]
