"""Templates and scaffolding: render a spec's template into an in-memory Plan,
preview it, then apply it atomically (design.md, "Templates"; architecture.md).

    plan = render_plan(spec)                    # nothing written yet
    apply_plan(plan.for_steps(SCAFFOLD_STEPS), out)   # all or nothing
    write_plan_files(plan, out, {"cicd"})       # later steps, into the project

Core module: never imports textual, rich or litellm.
"""

from workbench.scaffold.apply import apply_plan, check_target, cleanup_leftovers, write_plan_files
from workbench.scaffold.context import build_context, package_name
from workbench.scaffold.plan import (
    MODE_EXEC,
    MODE_FILE,
    ORIGIN_MODEL,
    OverrideError,
    Plan,
    PlannedFile,
    make_environment,
    render_plan,
)
from workbench.scaffold.templates import (
    FILE_STEPS,
    INTEGRATE_STEPS,
    SCAFFOLD_STEPS,
    FileEntry,
    Manifest,
    TemplateError,
    TemplateInfo,
    UnknownTemplate,
    get_manifest,
    list_templates,
    load_manifest,
    template_ids,
)

__all__ = [
    "FILE_STEPS",
    "INTEGRATE_STEPS",
    "MODE_EXEC",
    "MODE_FILE",
    "ORIGIN_MODEL",
    "SCAFFOLD_STEPS",
    "FileEntry",
    "Manifest",
    "OverrideError",
    "Plan",
    "PlannedFile",
    "TemplateError",
    "TemplateInfo",
    "UnknownTemplate",
    "apply_plan",
    "build_context",
    "check_target",
    "cleanup_leftovers",
    "get_manifest",
    "list_templates",
    "load_manifest",
    "make_environment",
    "package_name",
    "render_plan",
    "template_ids",
    "write_plan_files",
]
