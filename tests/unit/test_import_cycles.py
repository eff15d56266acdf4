"""No import cycles in workbench/, counting function-local imports: the graph of every
`import`/`from` statement anywhere in a module (those under `if TYPE_CHECKING:` never run,
so they do not count), plus the engine's imports of the step handlers the step table names.
"""

from __future__ import annotations

from tests.support.codegraph import a_cycle, import_graph, strongly_connected
from workbench.lifecycle.steps import STEPS


def graph() -> dict[str, set[str]]:
    g = import_graph()
    # the engine imports each phase's handlers by the name the step table gives
    g["workbench.lifecycle.engine"] |= {s.handler.partition(":")[0] for s in STEPS}
    return g


def cycles(inside: str | None = None, outside: str | None = None) -> list[str]:
    g = graph()
    groups = strongly_connected(g)
    if inside:
        groups = [grp for grp in groups if all(m.startswith(inside) for m in grp)]
    if outside:
        groups = [grp for grp in groups if not all(m.startswith(outside) for m in grp)]
    return [" -> ".join(a_cycle(g, grp)) + (f" (and {len(grp)} modules in all)" if len(grp) > 2 else "")
            for grp in groups]


def test_the_graph_sees_function_local_imports_and_the_step_handlers():
    g = graph()
    assert "workbench.lifecycle.scaffold_steps" in g["workbench.lifecycle.engine"]
    assert "workbench.scaffold" in g["workbench.lifecycle.engine"]  # imported inside plan()
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles()
    assert found == [], "import cycles:\n" + "\n".join(found)


def test_the_llm_package_has_a_leaf_and_one_wiring_place():
    """targets is a leaf; the gateway and the agents never import the registry (the one
    module that wires agents, gateway and offline), and nothing in llm opens a Store."""
    g = graph()
    llm = {m for m in g if m.startswith("workbench.llm.")}
    assert not g["workbench.llm.targets"] & {m for m in g if m.startswith("workbench.")}
    for m in ("workbench.llm.gateway", "workbench.llm.agents", "workbench.llm.offline"):
        assert "workbench.llm.registry" not in g[m], m
    opens = {m: sorted(t for t in g[m] if t.startswith("workbench.store")) for m in llm}
    assert not any(opens.values()), opens
