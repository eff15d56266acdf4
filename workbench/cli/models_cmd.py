"""`workbench models`: configured models, their LiteLLM ids, whether a key is present.

Never imports LiteLLM: it reads config.toml and the environment only, and never
prints a key (only the name of the variable it is read from).
"""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "models", help="configured models, their LiteLLM ids and whether a key is present",
        description="The models Workbench can use: alias, LiteLLM model id, provider, whether its "
                    "API key is present, and which one is the default. Configure them in "
                    "config.toml ([models.ALIAS] model = \"provider/id\").",
    )
    p.add_argument("--model", metavar="NAME", help="show the choice as `--model NAME` would make it")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=run)
    return p


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def run(args) -> int:
    from workbench.config import load_config
    from workbench.llm.registry import OFFLINE, ModelProvider, model_steps
    from workbench.paths import config_path

    path = config_path()
    config = load_config(path)
    provider = ModelProvider(config, getattr(args, "model", None))
    rows = provider.describe()
    steps = {s: provider.model_name_for(s) for s in model_steps()}
    if getattr(args, "json", False):
        print(json.dumps({"config": str(path), "default": provider.default, "models": rows,
                          "steps": steps, "warnings": provider.warnings}, indent=2))
        return 0

    table = [["", "ALIAS", "MODEL", "PROVIDER", "KEY", "KEY VARIABLE"]]
    for r in rows:
        key = r["key"]
        table.append(["*" if r["default"] else "", r["alias"], r["model"], r["provider"], key,
                      r["key_env"] if key != "not needed" else ""])
    for line in _table(table):
        print(line)
    print()
    print(f"default: {provider.default}" + ("  (built-in, no key needed)" if provider.default == OFFLINE else ""))
    per_step = ", ".join(f"{s} = {m}" for s, m in steps.items())
    print(f"steps:   {per_step}")
    for w in provider.warnings:
        print(f"note:    {w}")
    if provider.default == OFFLINE:
        missing = [r for r in rows if r["alias"] != OFFLINE and r["key"] == "no"]
        print()
        print("No model has a key, so the offline drafter is the default: it turns the request into a")
        print("spec skeleton for you to complete. To use a model, export its key, for example:")
        shown = set()
        for r in missing:
            if r["key_env"] and r["key_env"] not in shown:
                shown.add(r["key_env"])
                print(f"    export {(r['key_env'] + '=...'):<24}  # {r['alias']} ({r['model']})")
        print(f"or add a [models.NAME] table to {path} (model = \"provider/id\", api_base, api_key_env).")
    print(f"\nconfig: {path}" + ("" if config.source else " (not present: built-in defaults)"))
    return 0
