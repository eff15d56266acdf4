"""The model-backed agents: Tool Builder, Reviewer, Infrastructure and Learning.

Each role's system prompt is a Jinja2 template under `templates/prompts/`, rendered in a
sandboxed environment with StrictUndefined. Structured outputs are checked here:

- draft_spec: a spec.md, tolerating prose or code fences around it, parsed and validated
  like any spec against the available template ids;
- review: JSON findings validated against `FINDINGS_SCHEMA`;
- implement / repair: `<<<FILE path>>> … <<<END>>>` blocks, only for the model-owned
  files given; any other path (or one leaving the project) is rejected and recorded.

Invalid output gets one re-ask quoting the validation error, then `ModelOutputError`.
Every call goes through `workbench.llm.gateway` (the only module importing LiteLLM).
See docs/agents.md.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.llm.base import SEVERITIES, AgentContext, AgentReport, Finding, ModelOutputError
from workbench.llm.targets import ModelTarget

__all__ = ["ModelAgents", "ModelOutputError", "InvalidOutput", "extract_spec", "extract_json",
           "parse_files", "render_prompt", "validate_findings"]

MAX_FINDINGS = 20
FAILURE_TAIL = 8000

SPEC_CONTRACT = """\
- name: required; lowercase kebab-case, 2-40 characters (e.g. csv2json, log-tail)
- summary: required; one line
- template: required; a template id from the list below
- version: optional, a quoted version string (default "0.1.0")
- license: optional (default MIT)
- commands: required; a list of one or more subcommands, each with
  - name: kebab-case, unique
  - summary: one line
  - arguments: optional list of positionals {name, type, help[, choices][, nargs]};
    type is one of str, int, float, path, choice (choice needs `choices: [a, b]`);
    nargs (quoted): "?" optional, "*" any number, "+" at least one; at most one "*"/"+"
    argument and it comes last; no required argument after an optional one
  - options: optional list {name, type, help[, default][, choices][, short][, required]
    [, multiple]}, each becomes --name; type is one of str, int, float, path, choice,
    flag (flag: a boolean switch, default false; `default: true` adds --no-name);
    short: one ASCII letter (not h), unique in the command, giving -x;
    required: true (not for flags, no default); multiple: true, repeatable, gives a
    list (not for flags, no default); `help` is reserved and cannot be an option name
  - a path argument or option accepts "-" for standard input or output
- dependencies: optional list of PEP 508 requirement strings (python-cli only)
- integrations: optional {github_actions: bool, circleci: bool, devcontainer: bool}
  (defaults: true, false, true)"""

FINDINGS_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["findings"],
    "properties": {
        "findings": {
            "type": "array",
            "maxItems": MAX_FINDINGS,
            "items": {
                "type": "object",
                "required": ["severity", "location", "text"],
                "properties": {
                    "severity": {"enum": list(SEVERITIES)},
                    "location": {"type": "string", "minLength": 1, "maxLength": 200},
                    "text": {"type": "string", "minLength": 1, "maxLength": 4000},
                    "suggestion": {"type": "string", "maxLength": 8000},
                },
                "additionalProperties": True,
            },
        }
    },
}


class InvalidOutput(Exception):
    """One validation failure (internal): its message is quoted back to the model."""

    def __init__(self, message: str, rejected: list[dict] | None = None, near: str | None = None):
        super().__init__(message)
        self.rejected = rejected or []
        self.near = near  # what was extracted, when it came close (a draft the developer can fix)


# -- prompts ---------------------------------------------------------------------------------


def prompts_dir() -> Path:
    from workbench.paths import templates_dir

    p = templates_dir() / "prompts"
    if (p / "tool_builder.md.j2").is_file():
        return p
    return Path(__file__).resolve().parent.parent.parent / "templates" / "prompts"


@lru_cache(maxsize=4)
def _environment(directory: str):
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


ROLE_TEMPLATES = {
    "tool_builder": "tool_builder.md.j2",
    "reviewer": "reviewer.md.j2",
    "infrastructure": "infrastructure.md.j2",
    "learning": "learning.md.j2",
}


def render_prompt(role: str, **variables) -> str:
    """A role's system prompt. Undefined variables are errors (StrictUndefined)."""
    env = _environment(str(prompts_dir()))
    return env.get_template(ROLE_TEMPLATES[role]).render(**variables).strip() + "\n"


def template_ids() -> list[str]:
    try:
        from workbench.scaffold import template_ids as _ids

        ids = list(_ids())
        if ids:
            return ids
    except Exception:  # noqa: BLE001 - fall back to the directory listing
        pass
    from workbench.paths import templates_dir

    root = templates_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.toml").is_file())


# -- output parsing ---------------------------------------------------------------------------

SPEC_SECTIONS = ("Overview", "Requirements", "Acceptance criteria")
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$")
_CLOSERS = re.compile(
    r"^(let me know|i hope|hope this|feel free|if you('d| would)|would you|shall i|do you want|want me|"
    r"this spec|this draft|the spec above|above is|i've|i have|here's|here is|happy to|notes?:|"
    r"remarks?:|explanation:|key (changes|points|decisions))", re.IGNORECASE)


def _front_matter_start(lines: list[str]) -> int | None:
    """The line of the '---' that opens the front matter (one followed by a YAML key)."""
    openers = [i for i, line in enumerate(lines) if line.strip() == "---"
               and any(lines[j].strip() in ("---", "...") for j in range(i + 1, len(lines)))]
    for i in openers:  # prefer a '---' that is followed by a YAML key (not a prose rule)
        nxt = next((ln for ln in lines[i + 1:] if ln.strip()), "")
        if re.match(r"^[A-Za-z_][\w-]*\s*:", nxt):
            return i
    return openers[0] if openers else None


def _fence_end(lines: list[str], first: int, char: str, length: int) -> int:
    """The line that closes a fence opened at `first - 1` (CommonMark: the same character,
    at least as long, nothing after it). A model that nests a ```lang block inside a
    fence of the same length is tolerated: that inner block's own closing line is
    skipped rather than taken for the end."""
    depth = 0
    for j in range(first, len(lines)):
        m = _FENCE_LINE.match(lines[j])
        if not m or m.group(1)[0] != char:
            continue
        run, info = m.group(1), m.group(2)
        if info:  # an opening line (closing fences have no info string)
            if len(run) <= length:
                depth += 1
            continue
        if depth and len(run) <= length:
            depth -= 1
            continue
        if len(run) >= length:
            return j
    return len(lines)


def _drop_trailing_prose(text: str) -> str:
    """An unfenced spec followed by the model's remarks: the remarks go (after a thematic
    break, or paragraphs that talk to the developer after the last section's content)."""
    from markdown_it import MarkdownIt

    lines = text.split("\n")
    tokens = [t for t in MarkdownIt("commonmark").parse(text) if t.level == 0 and t.map]
    run = []  # the trailing paragraphs and rules, after the last list, heading or code block
    for t in reversed(tokens):
        if t.type not in ("hr", "paragraph_open"):
            break
        run.insert(0, t)
    if len(run) == len(tokens):
        return text  # nothing but paragraphs: no body to tell remarks from
    cut = next((t.map[0] for t in run if t.type == "hr"), None)
    if cut is None:
        cut = next((t.map[0] for t in run if _CLOSERS.match(" ".join(lines[t.map[0]:t.map[1]]).strip())),
                   None)
    if cut is None:
        return text
    return "\n".join(lines[:cut]).rstrip() + "\n"


def extract_spec(text: str) -> str:
    """The whole spec.md inside a reply: front matter and body, without the prose and the
    code fence around it.

    A fence around the spec is found by CommonMark's rules (markdown-it): an opening of
    three or more backticks or tildes with the info string `markdown`, `md` or none, and
    a closing fence of the same character at least as long; so a four-backtick fence
    keeps the ``` blocks of its body, and remarks and code blocks after the closing fence
    are dropped. Unfenced, remarks after the spec are dropped."""
    from markdown_it import MarkdownIt

    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    for tok in MarkdownIt("commonmark").parse(text):
        if tok.type != "fence" or tok.level != 0 or not tok.map:
            continue
        if tok.info.strip().split(" ")[0].lower() not in ("", "markdown", "md"):
            continue
        first = tok.map[0] + 1
        opener = lines[tok.map[0]]
        indent = len(opener) - len(opener.lstrip(" "))
        end = _fence_end(lines, first, tok.markup[0], len(tok.markup))
        inner = [ln[min(indent, len(ln) - len(ln.lstrip(" "))):] for ln in lines[first:end]]
        start = _front_matter_start(inner)
        if start is None or any(ln.strip() for ln in inner[:start]):
            continue  # a fence holding something else (an example, a command)
        return "\n".join(inner[start:]).rstrip() + "\n"
    start = _front_matter_start(lines)
    if start is None:
        raise InvalidOutput("no spec found: the reply must be a spec.md starting with a '---' line "
                            "that opens the YAML front matter")
    return _drop_trailing_prose("\n".join(lines[start:]).rstrip() + "\n")


def missing_sections(spec_text: str) -> list[str]:
    """The body sections (`## Overview`, `## Requirements`, `## Acceptance criteria`) a
    spec lacks: a draft without them is not the whole spec (cut short, or cut by a fence)."""
    heads = {m.group(1).strip().rstrip("#").strip().lower()
             for m in re.finditer(r"^ {0,3}##[ \t]+(.+?)[ \t]*$", spec_text, re.MULTILINE)}
    return [s for s in SPEC_SECTIONS if s.lower() not in heads]


def extract_json(text: str, accept=None):
    """The first JSON value in a reply that `accept(value)` takes (any value without one),
    tolerating prose, brackets in the prose and code fences around it: a value is tried
    at every `{` (json.JSONDecoder.raw_decode), then at every `[` (so a `[]` in the prose
    never passes for an empty list of findings), fenced ```json blocks first."""
    cleaned = text.strip()
    candidates = [m.group(1) for m in re.finditer(r"```(?:json)?[ \t]*\n(.*?)\n\s*```", cleaned, re.DOTALL)]
    candidates.append(cleaned)
    decoder = json.JSONDecoder()
    json_err = "no JSON object found"
    schema_err: InvalidOutput | None = None  # the first value's error, an object's preferred
    object_err = False
    tried = 0
    for cand, opener in [(c, o) for o in "{[" for c in candidates]:
        for i, ch in enumerate(cand):
            if ch != opener:
                continue
            tried += 1
            if tried > 2000:
                break
            try:
                value, _ = decoder.raw_decode(cand, i)
            except json.JSONDecodeError as exc:
                if schema_err is None:
                    json_err = f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                continue
            if accept is None:
                return value
            try:
                return accept(value)
            except InvalidOutput as exc:
                if schema_err is None or (isinstance(value, dict) and not object_err):
                    schema_err, object_err = exc, isinstance(value, dict)
    if schema_err is not None:
        raise schema_err
    raise InvalidOutput(f"the reply is not valid JSON: {json_err}")


def _checked_spec(reply: str, ids: list[str]) -> str:
    """The whole, valid spec in a reply, else InvalidOutput naming what is wrong."""
    from workbench.spec import parse_spec, validate

    text = extract_spec(reply)
    try:
        spec = parse_spec(text, "spec.md")
        validate(spec, ids or None)
    except WorkbenchError as exc:
        raise InvalidOutput(str(exc), near=text) from None
    missing = missing_sections(spec.body)
    if missing:
        raise InvalidOutput(f"spec.md: body: not the whole spec: no {', '.join('## ' + m for m in missing)} "
                            "section (the reply may have been cut short)", near=text)
    return text


def validate_findings(value) -> list[Finding]:
    if isinstance(value, list):
        value = {"findings": value}
    try:
        import jsonschema

        validator = jsonschema.Draft202012Validator(FINDINGS_SCHEMA)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            e = errors[0]
            where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
            raise InvalidOutput(f"findings do not match the schema at {where}: {e.message}")
    except ImportError:  # pragma: no cover - jsonschema ships with LiteLLM
        _validate_findings_by_hand(value)
    return [Finding(severity=f["severity"], location=f["location"].strip(), text=f["text"].strip(),
                    suggestion=str(f.get("suggestion", "") or "").strip(), source="reviewer")
            for f in value["findings"]]


def _validate_findings_by_hand(value) -> None:  # pragma: no cover
    if not isinstance(value, dict) or not isinstance(value.get("findings"), list):
        raise InvalidOutput("findings do not match the schema: expected {\"findings\": [...]}")
    for i, f in enumerate(value["findings"]):
        if not isinstance(f, dict):
            raise InvalidOutput(f"findings do not match the schema at findings/{i}: not an object")
        if f.get("severity") not in SEVERITIES:
            raise InvalidOutput(f"findings do not match the schema at findings/{i}/severity: "
                                f"must be one of {', '.join(SEVERITIES)}")
        for key in ("location", "text"):
            if not isinstance(f.get(key), str) or not f[key].strip():
                raise InvalidOutput(f"findings do not match the schema at findings/{i}/{key}: "
                                    "a non-empty string is required")


_FILE_RE = re.compile(r"^<<<FILE[ \t]+(.+?)[ \t]*>>>[ \t]*\n(.*?)^<<<END>>>[ \t]*$", re.DOTALL | re.MULTILINE)


def unwrap_fence(content: str, path: str = "") -> str:
    """A file's content wrapped whole in a code fence (```python … ```) -> the content.
    A Markdown file keeps a fence unless its info string says markdown."""
    lines = content.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        return content
    m1, m2 = _FENCE_LINE.match(lines[0]), _FENCE_LINE.match(lines[-1])
    if not (m1 and m2) or m2.group(2) or m1.group(1)[0] != m2.group(1)[0] or len(m2.group(1)) < len(m1.group(1)):
        return content
    if path.lower().endswith((".md", ".markdown")) and m1.group(2).lower() not in ("markdown", "md"):
        return content
    inner = lines[1:-1]
    if _fence_end(inner + [lines[-1]], 0, m1.group(1)[0], len(m1.group(1))) != len(inner):
        return content  # the first fence closes earlier: two blocks, not one wrapping the file
    return "\n".join(inner) + "\n"


def parse_files(text: str, allowed: dict[str, str]) -> tuple[dict[str, str], list[dict]]:
    """`<<<FILE path>>>` blocks -> ({path: content} for allowed paths, rejections)."""
    from workbench.safety.paths import UnsafePath, check_relative

    blocks = [(m.group(1).strip().strip("`'\""), m.group(2)) for m in _FILE_RE.finditer(text)]
    if not blocks:
        try:
            value = extract_json(text)
        except InvalidOutput:
            value = None
        if isinstance(value, dict):
            files = value.get("files", value)
            if isinstance(files, dict) and all(isinstance(v, str) for v in files.values()):
                blocks = list(files.items())
    if not blocks:
        raise InvalidOutput("no files found: write each file as a '<<<FILE path>>>' line, its complete "
                            "content, then a '<<<END>>>' line")
    out: dict[str, str] = {}
    rejected: list[dict] = []
    for path, content in blocks:
        try:
            check_relative(path)
            norm = str(Path(path).as_posix()).removeprefix("./")
        except UnsafePath as exc:
            rejected.append({"path": path, "reason": f"leaves the project ({exc})"})
            continue
        if norm not in allowed:
            rejected.append({"path": path, "reason": "not a model-owned file"})
            continue
        out[norm] = unwrap_fence(content, norm)
    return out, rejected


# -- the agents ------------------------------------------------------------------------------


class ModelAgents:
    """The agents' work done by one model (with its fallback chain) through the gateway."""

    def __init__(self, target: ModelTarget, gateway, chain: list[ModelTarget] | None = None,
                 template: str = "python-cli"):
        self.target = target
        self.gateway = gateway
        self.chain = chain or [target]
        self.template = template
        self.rejections: list[dict] = []  # every rejected path, for the engine/UI to show
        self.last_model: str | None = None
        self.last_fallback: str | None = None  # "claude failed (HTTP 500 ×3); answered by gemini"
        self._answered: ModelTarget | None = None

    @property
    def label(self) -> str:
        """The model that answered the last call (a fallback is named as such), else the model."""
        if self._answered is not None and self._answered != self.target:
            return f"{self._answered.label}, fallback for {self.target.alias}"
        return self.target.label

    def for_step(self, step: str) -> ModelAgents:
        return self

    # -- plumbing --------------------------------------------------------------
    def _call(self, ctx: AgentContext, messages: list[dict]) -> str:
        result = self.gateway.complete(self.chain, messages, ctx)
        self.last_model = result.target.model
        self._answered = result.target
        self.last_fallback = getattr(result, "fallback", None)
        return result.text

    def _structured(self, ctx: AgentContext, system: str, user: str, what: str, check):
        """Ask; validate with `check(text)`; on InvalidOutput re-ask once quoting the error.
        Each rejected reply is reported on `ctx` (the engine audits it and keeps the reply)."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        reply = self._call(ctx, messages)
        try:
            return check(reply)
        except InvalidOutput as first:
            self._report(ctx, "model_output_invalid", f"{what} invalid, re-asking: {first}",
                         what, reply, first, 1)
            messages += [
                {"role": "assistant", "content": reply},
                {"role": "user", "content": (
                    f"Your reply was not a valid {what}. The validator said:\n\n{first}\n\n"
                    f"Reply again with the corrected, complete {what} only.")},
            ]
        reply2 = self._call(ctx, messages)
        try:
            return check(reply2)
        except InvalidOutput as second:
            self._report(ctx, "model_output_rejected", f"{what} invalid after one re-ask: {second}",
                         what, reply2, second, 2)
            raise ModelOutputError(
                f"model {self.last_model or self.target.model}: invalid {what} after one re-ask: {second}",
                model=self.last_model or self.target.model, reason=str(second), output=reply2,
                rejected=second.rejected, near=second.near) from None

    def _report(self, ctx: AgentContext, action: str, summary: str, what: str, reply: str,
                error: InvalidOutput, attempt: int) -> None:
        """A rejected reply, for the audit log and `workbench show SESSION rejected`."""
        model = self.last_model or self.target.model
        ctx.report(AgentReport(action, summary, {"error": str(error), "rejected": error.rejected,
                                                 "model": model},
                               reply={"what": what, "attempt": attempt, "error": str(error),
                                      "model": model, "reply": reply}))

    # -- Tool Builder ---------------------------------------------------------
    def analyse(self, ctx: AgentContext, request: str, project_context: str) -> str:
        system = render_prompt("tool_builder", task="analysis", templates=template_ids(),
                               template=self.template, spec_contract=SPEC_CONTRACT, files=[])
        user = f"The developer's request:\n\n{request.strip()}\n"
        if project_context.strip():
            user += f"\nContext from the existing project:\n\n{project_context.strip()}\n"
        return self._call(ctx, [{"role": "system", "content": system}, {"role": "user", "content": user}])

    def draft_spec(self, ctx: AgentContext, request: str, analysis: str, examples: list[str]) -> str:
        ids = template_ids()
        system = render_prompt("tool_builder", task="spec", templates=ids or [self.template],
                               template=self.template, spec_contract=SPEC_CONTRACT, files=[])
        user = f"The developer's request:\n\n{request.strip()}\n"
        if analysis.strip():
            user += f"\nThe analysis (assumptions and open questions):\n\n{analysis.strip()}\n"
        for i, ex in enumerate(examples[:2], 1):
            user += f"\nExample of a valid spec ({i}):\n\n{ex.strip()}\n"
        user += "\nWrite the complete spec.md now."

        def check(reply: str) -> str:
            return _checked_spec(reply, ids)

        return self._structured(ctx, system, user, "spec", check)

    def apply_finding(self, ctx: AgentContext, spec_text: str, finding: Finding) -> str:
        ids = template_ids()
        system = render_prompt("tool_builder", task="revise", templates=ids or [self.template],
                               template=self.template, spec_contract=SPEC_CONTRACT, files=[])
        user = (f"The current spec.md:\n\n{spec_text}\n\nThe finding to apply "
                f"({finding.severity}, at {finding.location}): {finding.text}\n")
        if finding.suggestion:
            user += f"Suggested change: {finding.suggestion}\n"
        user += "\nReply with the complete revised spec.md."

        def check(reply: str) -> str:
            return _checked_spec(reply, ids)

        return self._structured(ctx, system, user, "spec", check)

    # -- Reviewer -------------------------------------------------------------
    def review(self, ctx: AgentContext, spec_text: str) -> list[Finding]:
        system = render_prompt("reviewer", severities=list(SEVERITIES), spec_contract=SPEC_CONTRACT)
        user = f"Review this spec.md:\n\n{spec_text}"

        def check(reply: str) -> list[Finding]:
            return extract_json(reply, accept=validate_findings)

        try:
            return self._structured(ctx, system, user, "findings JSON", check)
        except ModelOutputError as exc:
            short = ctx.session_id[:12]
            raise ModelOutputError(
                f"{exc} (its replies: `workbench show {short} rejected`; to review with another model, "
                f"set [steps] review = \"NAME\" in config.toml and `workbench resume {short}`; to go on "
                f"without the review, `workbench resume {short} --no-review`)", model=exc.model,
                reason=exc.reason, output=exc.output, rejected=exc.rejected) from None

    # -- implementation and repair ---------------------------------------------
    @staticmethod
    def _files_text(files: dict[str, str]) -> str:
        return "".join(f"<<<FILE {p}>>>\n{c if c.endswith(chr(10)) or not c else c + chr(10)}<<<END>>>\n"
                       for p, c in sorted(files.items()))

    def _write_files(self, ctx: AgentContext, task: str, spec_text: str, files: dict[str, str],
                     failure: str | None) -> dict[str, str]:
        system = render_prompt("tool_builder", task=task, templates=template_ids(),
                               template=self.template, spec_contract=SPEC_CONTRACT, files=sorted(files))
        user = f"The approved spec:\n\n{spec_text}\n\nThe current files:\n\n{self._files_text(files)}"
        if failure is not None:
            tail = failure[-FAILURE_TAIL:]
            user += f"\nThe failing test output:\n\n{tail}\n"
        user += "\nReply with the file blocks now."

        def check(reply: str) -> dict[str, str]:
            new, rejected = parse_files(reply, files)
            if rejected:
                self.rejections.extend(rejected)
                listing = "; ".join(f"{r['path']}: {r['reason']}" for r in rejected)
                raise InvalidOutput(f"rejected paths (nothing was written): {listing}. You may write only: "
                                    + ", ".join(sorted(files)), rejected)
            if not new:
                raise InvalidOutput("no model-owned file was written; you may write only: "
                                    + ", ".join(sorted(files)))
            merged = dict(files)
            merged.update(new)
            return merged

        return self._structured(ctx, system, user, "set of file blocks", check)

    def implement(self, ctx: AgentContext, spec_text: str, files: dict[str, str]) -> dict[str, str]:
        if not files:
            return {}
        return self._write_files(ctx, "implementation", spec_text, files, None)

    def repair(self, ctx: AgentContext, spec_text: str, files: dict[str, str], failure: str) -> dict[str, str]:
        if not files:
            return {}
        return self._write_files(ctx, "repair", spec_text, files, failure)

    # -- Infrastructure and Learning (optional for the engine) ------------------
    def commit_message(self, ctx: AgentContext, spec_text: str, step: str, paths: list[str]) -> str:
        system = render_prompt("infrastructure", task=step)
        user = f"The approved spec:\n\n{spec_text}\n\nFiles this step adds:\n" + "".join(
            f"- {p}\n" for p in paths)
        return self._call(ctx, [{"role": "system", "content": system},
                                {"role": "user", "content": user}]).strip()

    def insights(self, ctx: AgentContext, report: str) -> str:
        system = render_prompt("learning")
        return self._call(ctx, [{"role": "system", "content": system},
                                {"role": "user", "content": f"The run's results:\n\n{report}"}]).strip()
