"""The `offline` model: a built-in, deterministic drafter that needs no key.

It turns a request into a valid spec skeleton for the developer to complete, and
its review is a set of deterministic checks. It never imports LiteLLM or Textual.
"""

from __future__ import annotations

import re

import yaml

from workbench.llm.base import AgentContext, Finding
from workbench.spec import parse_spec

STOPWORDS = {
    "a", "an", "the", "and", "or", "of", "to", "for", "from", "in", "into", "on", "with",
    "that", "which", "this", "these", "my", "our", "your", "i", "we", "want", "need",
    "tool", "cli", "command", "line", "command-line", "program", "script", "app",
    "build", "make", "create", "write", "please", "simple", "small", "little", "some",
    "it", "its", "by", "as", "at", "be", "is", "are", "can", "should", "would", "like",
    "using", "use", "all", "each", "every", "one", "new",
}
VERBS = {
    "convert", "list", "show", "count", "check", "validate", "format", "merge", "split",
    "search", "find", "fetch", "sync", "watch", "clean", "backup", "compress", "extract",
    "generate", "render", "resize", "rename", "summarize", "summarise", "translate", "parse",
    "encode", "decode", "hash", "sort", "filter", "diff", "compare", "export", "import",
    "upload", "download", "send", "report", "lint", "test", "deploy", "monitor", "track",
    "scan", "print", "read", "greet", "calculate", "compute", "measure", "analyze", "analyse",
}


TO_FILL_IN = "(To fill in:"


def apply_structural_fix(spec_text: str, finding: Finding) -> str:
    """The spec with a finding's missing field or section put in place (see
    OfflineAgents.apply_finding); the text unchanged when there is nothing structural."""
    import json

    m = re.fullmatch(r"commands\[(\d+)\]\.(arguments|options)\[(\d+)\]", finding.location)
    if m and "help" in finding.text:
        spec = parse_spec(spec_text)
        item = ("commands", int(m.group(1)), m.group(2), int(m.group(3)))
        try:
            name = spec.data["commands"][item[1]][item[2]][item[3]]["name"]
        except (KeyError, IndexError, TypeError):
            return spec_text
        newline = "\r\n" if "\r\n" in spec_text else "\n"
        lines = spec_text.split(newline)
        value = json.dumps(f"{TO_FILL_IN} what {name} is)", ensure_ascii=False)
        first = spec.lines.get(item + ("name",))
        if first is None:
            return spec_text
        indent = len(lines[first - 1]) - len(lines[first - 1].lstrip(" -"))
        at = spec.lines.get(item + ("help",))
        if at is not None:  # there, but empty: fill it
            lines[at - 1] = " " * indent + f"help: {value}"
        else:  # after the item's last line
            last = max(n for path, n in spec.lines.items() if path[:len(item)] == item)
            lines.insert(last, " " * indent + f"help: {value}")
        return newline.join(lines)
    m = re.fullmatch(r"The body has no '(## [^']+)' section\.", finding.text)
    if finding.location == "body" and m:
        heading = m.group(1)
        what = heading[3:].lower()
        end = "" if spec_text.endswith("\n") else "\n"
        return f"{spec_text}{end}\n{heading}\n\n- {TO_FILL_IN} {what}.)\n"
    return spec_text


def _words(request: str) -> list[str]:
    return [w for w in re.findall(r"[a-z][a-z0-9]*", request.lower()) if len(w) <= 20]


# Words that are never the object a tool is named after; the weak ones name it only
# when the phrase has nothing better ("split big files" -> "file-splitter").
NOT_OBJECTS = STOPWORDS | {
    "their", "them", "they", "his", "her", "him", "me", "you", "any", "given", "onto", "over",
    "under", "about", "between", "than", "then", "so", "not", "only", "also", "via", "per",
}
WEAK_OBJECTS = {
    "files", "file", "folder", "folders", "directory", "directories", "contents", "content",
    "input", "inputs", "output", "data", "text", "texts", "stuff", "things", "thing", "items",
    "big", "large", "small", "long", "short", "old", "many", "multiple", "several", "other",
}
# The noun for someone who does the verb, where "verb + er" is wrong.
AGENT_NOUNS = {
    "validate": "validator", "translate": "translator", "generate": "generator",
    "calculate": "calculator", "compress": "compressor", "extract": "extractor",
    "monitor": "monitor", "filter": "filter", "format": "formatter", "split": "splitter",
    "scan": "scanner", "diff": "differ", "show": "viewer", "list": "lister", "backup": "backup-tool",
    "analyze": "analyzer", "analyse": "analyser", "summarize": "summarizer", "summarise": "summariser",
    "import": "importer", "sync": "syncer", "test": "tester",
}
_SUFFIXES = ("ing", "ies", "es", "ed", "s")


def _verb_of(word: str) -> str | None:
    """The base verb of an inflected word ("finds", "hashing", "converted" -> find, hash, convert)."""
    if word in VERBS:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            stem = word[: -len(suffix)]
            for candidate in (stem, stem + "e", stem[:-1] if stem[-1:] == stem[-2:-1] else stem,
                              stem + "y" if suffix == "ies" else stem):
                if candidate in VERBS:
                    return candidate
    return None


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _agent_noun(verb: str) -> str:
    if verb in AGENT_NOUNS:
        return AGENT_NOUNS[verb]
    return verb + ("r" if verb.endswith("e") else "er")


def _parse_request(request: str) -> tuple[str | None, list[str], str]:
    """The request's main verb, its object phrase (words up to the first preposition),
    and the phrase as written ("Count words in text files" -> count, [words], "words")."""
    raw = request.strip().rstrip(".!?").split()
    verb, at = None, 0
    for i, token in enumerate(raw[:4]):  # a request names its verb early ("Find ...", "I want to count ...")
        base = _verb_of(re.sub(r"[^a-z0-9]", "", token.lower()))
        if base is not None:
            verb, at = base, i + 1
            break
    phrase: list[str] = []
    for token in raw[at:]:
        w = re.sub(r"[^a-z0-9]", "", token.lower())
        if not w or w in NOT_OBJECTS or _verb_of(w) is not None:
            if phrase:
                break  # the object phrase ended ("photos *by* hashing ...")
            continue
        phrase.append(token)
    words = [re.sub(r"[^a-z0-9]", "", t.lower()) for t in phrase]
    return verb, [w for w in words if w and w[0].isalpha() and len(w) <= 20], " ".join(phrase)


def _object_noun(objects: list[str]) -> str | None:
    strong = [w for w in objects if w not in WEAK_OBJECTS]
    if strong:
        return strong[0]
    weak = [w for w in objects if w not in {"big", "large", "small", "long", "short", "old", "many",
                                            "multiple", "several", "other"}]
    return weak[-1] if weak else None


def suggest_name(request: str) -> str:
    """A tool name from the request's object noun and its verb, the way people name tools:
    "Find duplicate photos by hashing them" -> "duplicate-finder", "Count words in text
    files" -> "word-counter", "Convert CSV files to JSON" -> "csv-converter"."""
    verb, objects, _ = _parse_request(request)
    noun = _object_noun(objects)
    if verb and noun:
        name = f"{_singular(noun)}-{_agent_noun(verb)}"
    elif verb:
        name = _agent_noun(verb)
    else:
        nouns = [w for w in _words(request) if w not in NOT_OBJECTS and w not in WEAK_OBJECTS]
        name = "-".join(_singular(w) for w in nouns[:2])
    name = re.sub(r"-+", "-", name)[:40].strip("-")
    if len(name) < 2 or not re.match(r"^[a-z]", name):
        name = "my-tool"
    return name


def suggest_command(request: str) -> str:
    verb, _, _ = _parse_request(request)
    return verb or "run"


def one_line(text: str, limit: int = 72) -> str:
    line = " ".join(text.split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line or "A command-line tool"


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def suggest_summaries(request: str) -> tuple[str, str]:
    """(the tool's summary, its command's summary), written rather than copied: "Count
    words in text files" -> ("Counts words in text files", "Count words in INPUT")."""
    verb, _, phrase = _parse_request(request)
    raw = request.strip().rstrip(".!?").split()
    if verb is None:
        return "A command-line tool (drafted offline: describe it)", "Work on INPUT"
    at = next(i for i, t in enumerate(raw) if _verb_of(re.sub(r"[^a-z0-9]", "", t.lower())) == verb)
    rest = " ".join(raw[at + 1:])
    tool = f"{_third_person(verb).capitalize()} {rest}" if rest else f"A tool to {verb} its input"
    command = f"{verb.capitalize()} {phrase} in INPUT" if phrase else f"{verb.capitalize()} INPUT"
    return one_line(tool), one_line(command, 60)


def draft_spec_text(request: str, template: str = "python-cli") -> str:
    """The offline spec skeleton: valid as it stands, to be completed by the developer."""
    name = suggest_name(request)
    command = suggest_command(request)
    summary, command_summary = suggest_summaries(request)
    front = {
        "name": name,
        "summary": summary,
        "template": template,
        "version": "0.1.0",
        "license": "MIT",
        "commands": [
            {
                "name": command,
                "summary": command_summary,
                "arguments": [{"name": "input", "type": "str", "help": "What to work on"}],
                "options": [
                    {"name": "dry-run", "type": "flag", "help": "Show what would happen without doing it"}
                ],
            }
        ],
        "dependencies": [],
        "integrations": {"github_actions": True, "circleci": False, "devcontainer": True},
    }
    yaml_text = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    overview = request.strip() or summary
    return (
        f"---\n{yaml_text}---\n"
        f"# {name}\n\n"
        f"## Overview\n\n{overview}\n\n"
        "## Requirements\n\n"
        "- (Drafted offline: describe what each command must do.)\n\n"
        "## Acceptance criteria\n\n"
        "- (Drafted offline: list what a user can check to accept the tool.)\n"
    )


class OfflineAgents:
    """Deterministic agents used when no model is configured."""

    label = "offline"

    def __init__(self, template: str = "python-cli"):
        self.template = template

    def for_step(self, step: str) -> OfflineAgents:
        return self

    def analyse(self, ctx: AgentContext, request: str, project_context: str) -> str:
        text = (
            "## Request, restated\n\n"
            f"{request.strip()}\n\n"
            "## Assumptions\n\n"
            f"- The tool is built from the `{self.template}` template.\n"
            "- Drafted offline: no model is configured, so the spec is a skeleton to complete.\n\n"
            "## Clarifying questions\n\n"
            "- Which commands, arguments and options does the tool need?\n"
            "- What must each command print or write, and when should it fail?\n"
        )
        if project_context.strip():
            text += f"\n## Context from the existing project\n\n{project_context.strip()}\n"
        ctx.on_token(text)
        return text

    def draft_spec(self, ctx: AgentContext, request: str, analysis: str, examples: list[str]) -> str:
        text = draft_spec_text(request, self.template)
        ctx.on_token(text)
        return text

    def review(self, ctx: AgentContext, spec_text: str) -> list[Finding]:
        spec = parse_spec(spec_text)
        data = spec.data
        findings: list[Finding] = []
        for i, cmd in enumerate(data.get("commands", [])):
            for kind in ("arguments", "options"):
                for j, item in enumerate(cmd.get(kind, [])):
                    help_text = str(item.get("help", "")).strip()
                    if not help_text:
                        findings.append(Finding(
                            "warning", f"commands[{i}].{kind}[{j}]",
                            f"'{item['name']}' has no help text; users will see an empty description.",
                            "Add a one-line help text.", source="reviewer"))
                    elif help_text.startswith(TO_FILL_IN):
                        findings.append(Finding(
                            "info", f"commands[{i}].{kind}[{j}]",
                            f"'{item['name']}' has a placeholder for its help text.",
                            "Write what it is, in a line.", source="reviewer"))
        body = spec.body
        for heading in ("## Requirements", "## Acceptance criteria"):
            if heading not in body:
                findings.append(Finding("warning", "body", f"The body has no '{heading}' section.",
                                        f"Add a '{heading}' section.", source="reviewer"))
        if "Drafted offline" in body:
            findings.append(Finding("info", "body",
                                    "The requirements are a placeholder drafted offline.",
                                    "Describe what each command must do before approving."))
        elif TO_FILL_IN in body:
            findings.append(Finding("info", "body", "The body has placeholders to fill in.",
                                    f"Replace each '{TO_FILL_IN} …)' with your own words."))
        return findings

    def apply_finding(self, ctx: AgentContext, spec_text: str, finding: Finding) -> str:
        """Offline, only the structural part of a finding can be applied: a missing help
        field or body section is put in place, holding a placeholder for your words (the
        review then points at the placeholder). Anything that needs words returns the
        spec unchanged."""
        text = apply_structural_fix(spec_text, finding)
        if text != spec_text:
            ctx.on_token(text)
        return text

    def implement(self, ctx: AgentContext, spec_text: str, files: dict[str, str]) -> dict[str, str]:
        # Offline, the template's own bodies stand: they say clearly they are not implemented yet.
        return dict(files)

    def repair(self, ctx: AgentContext, spec_text: str, files: dict[str, str], failure: str) -> dict[str, str]:
        return dict(files)
