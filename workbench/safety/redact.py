"""The secret redactor: applied to everything Workbench stores, logs or shows.

Three sources of secrets are recognised:

* the *values* of configured key variables: every environment variable whose name
  ends in ``_API_KEY``, ``_TOKEN``, ``_SECRET`` (and a few well-known names such as
  ``AWS_SECRET_ACCESS_KEY``), every name registered with `register_key_env` (the
  config registers each model's ``api_key_env``) and any ``extra_env`` passed in;
  names ending in ``_KEY``, ``_PASS``, ``_PWD`` count when their value looks like a
  credential;
* well-known key *shapes*: our own for OpenAI (``sk-...``, ``sk-proj-...``), Anthropic
  (``sk-ant-...``), Gemini/Google (``AIza...``), GitHub, Hugging Face, Stripe test keys
  and ``npm_`` tokens, and the plugins of the maintained detector detect-secrets (Yelp)
  for GitLab, Slack tokens and webhooks, Stripe, URLs with a password, npm, JWTs, AWS,
  PyPI, SendGrid, Square and Azure; an AWS secret access key without its label by its
  shape and an entropy limit (`AWS_SECRET_ENTROPY`); PEM private keys by
  their body (a header mentioned in prose masks nothing);
* assignments ``NAME = value`` where NAME is in detect-secrets' keyword list
  (``password``, ``db_pass``, ``api_key`` ...) or an upper-case name ending in
  ``TOKEN``, ``_KEY`` or ``_PASS`` (``API_KEY``, ``OPENAI_KEY``, ``DB_PASS``), when the
  value is a literal that looks like a credential (not a call or a placeholder).

False positives stop commits, so shapes are bounded: a DNA primer (``ACCA...`` in A, C,
G, T) is not an AWS key id, a git hash is not a secret. detect-secrets is imported
on the first scan, not at startup; each pattern runs only when its needle (a literal
prefix) is in the text, so redaction stays on hot paths (100 KB in ~6 ms).

A masked value keeps only a short prefix: ``sk-ant-…****`` (a short value, such as a
password, keeps none).

`scan_tree(root)` scans a generated tree before a commit (``.git`` skipped) and
returns `SecretFinding`s; `check_tree` raises `SecretFound` (exit 1) naming the
file and line with the value masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError

MASK = "…****"
KEY_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_SECRET_KEY", "_ACCESS_KEY", "_PASSWORD")
# Names that are usually, not always, credentials (OPENAI_KEY, DB_PASS, but also GPG_KEY
# holding a fingerprint): their values count only when they look like one.
WEAK_KEY_ENV_SUFFIXES = ("_KEY", "_PASS", "_PASSWD", "_PWD", "_PAT")
KEY_ENV_NAMES = frozenset(
    {
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SESSION_TOKEN",
        "AZURE_API_KEY",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "MISTRAL_API_KEY",
        "GROQ_API_KEY",
        "COHERE_API_KEY",
        "DEEPSEEK_API_KEY",
        "OPENROUTER_API_KEY",
        "XAI_API_KEY",
        "TOGETHERAI_API_KEY",
    }
)
# Values shorter than this are not treated as secrets (avoids masking "1", "true").
MIN_SECRET_LEN = 8

_registered_env: set[str] = set()
_registered_values: set[str] = set()


def register_key_env(*names: str) -> None:
    """Treat the values of these environment variables as secrets (e.g. api_key_env)."""
    for n in names:
        if n:
            _registered_env.add(str(n))


def register_secret(*values: str) -> None:
    """Treat these literal values as secrets (e.g. a key read from elsewhere)."""
    for v in values:
        if v and len(v) >= MIN_SECRET_LEN:
            _registered_values.add(str(v))


def registered() -> tuple[frozenset[str], frozenset[str]]:
    """The key variable names and the literal secrets registered so far (what a cache of
    redacted values must be keyed on)."""
    return frozenset(_registered_env), frozenset(_registered_values)


def is_key_env_name(name: str, extra: Iterable[str] = ()) -> bool:
    """Is this environment variable a key variable?"""
    up = name.upper()
    return (
        up.endswith(KEY_ENV_SUFFIXES)
        or up.endswith(WEAK_KEY_ENV_SUFFIXES)
        or up in KEY_ENV_NAMES
        or name in _registered_env
        or name in set(extra)
    )


def is_key_env_name_strong(name: str) -> bool:
    """A name that always holds a credential (not only one of WEAK_KEY_ENV_SUFFIXES)."""
    up = name.upper()
    return up.endswith(KEY_ENV_SUFFIXES) or up in KEY_ENV_NAMES or name in _registered_env


def key_env_names(
    environ: Mapping[str, str] | None = None, extra_env: Iterable[str] = ()
) -> list[str]:
    """Names of the key variables present in `environ` (default os.environ)."""
    env = os.environ if environ is None else environ
    extra = set(extra_env)
    return sorted(n for n in env if is_key_env_name(n, extra))


def _longest_first(values: dict[str, str]) -> dict[str, str]:
    return dict(sorted(values.items(), key=lambda kv: -len(kv[0])))


def _scan_env(env: Mapping[str, str], extra_env: tuple[str, ...]) -> dict[str, str]:
    """value -> "env:NAME" for the key variables of `env`, longest first."""
    out: dict[str, str] = {}
    for name in key_env_names(env, extra_env):
        v = (env.get(name) or "").strip()
        if len(v) < MIN_SECRET_LEN:
            continue
        weak = name.upper().endswith(WEAK_KEY_ENV_SUFFIXES) and not is_key_env_name_strong(name)
        if not weak or (_assignment_looks_secret(v) and not v.startswith(("/", "~", "."))):
            out.setdefault(v, f"env:{name}")
    return _longest_first(out)


# The last scan of os.environ: (its variables, extra names, registered names, result).
# Redaction runs on every string Workbench stores or shows, and scanning the environment
# is most of its cost, so the result is reused while the key is equal: a copy of
# os.environ's raw name/value dict (compared in C, by identity first, with nothing
# built per call), the extra names and the registered names. Any change to os.environ
# (a new, changed or removed variable) misses the cache.
_env_cache: tuple[dict, tuple[str, ...], frozenset[str], dict[str, str]] | None = None


def _env_secrets(env: Mapping[str, str], extra_env: tuple[str, ...]) -> dict[str, str]:
    """`_scan_env(env, extra_env)`, cached for os.environ. Do not mutate the result."""
    global _env_cache
    data = getattr(env, "_data", None) if env is os.environ else None
    if not isinstance(data, dict):  # another mapping: nothing tells us it is unchanged
        return _scan_env(env, extra_env)
    cached = _env_cache
    if (cached is not None and cached[0] == data and cached[1] == extra_env
            and cached[2] == _registered_env):
        return cached[3]
    key = (dict(data), extra_env, frozenset(_registered_env))  # taken before the scan
    found = _scan_env(env, extra_env)
    _env_cache = (*key, found)
    return found


def _secret_values(
    extra_env: tuple[str, ...],
    environ: Mapping[str, str] | None,
    extra_values: Iterable[str],
) -> dict[str, str]:
    """`secret_values`, possibly the cached dict itself (callers only read it)."""
    from_env = _env_secrets(os.environ if environ is None else environ, extra_env)
    extra = [v for v in (*_registered_values, *extra_values)
             if v and len(v) >= MIN_SECRET_LEN and v not in from_env]
    if not extra:
        return from_env
    out = dict(from_env)
    for v in extra:
        out.setdefault(v, "registered")
    return _longest_first(out)


def secret_values(
    extra_env: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    extra_values: Iterable[str] = (),
) -> dict[str, str]:
    """value -> kind ("env:NAME") for every configured key value, longest first."""
    return dict(_secret_values(tuple(extra_env), environ, extra_values))


# --- patterns ----------------------------------------------------------------
# (kind, compiled regex, group holding the secret, prefix kept when masking)
# Order matters: more specific shapes first.
_B = r"(?<![A-Za-z0-9_\-])"  # left boundary that also treats '-' and '_' as word chars
_E = r"(?![A-Za-z0-9_\-])"


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    group: int
    prefix: str  # literal prefix kept in the masked form ('' = value's first chars)
    needles: tuple[str, ...] = ()  # the regex only runs when one of these is in the text
    nocase: bool = False  # needles are matched against the lower-cased text
    accept: Callable[[str], bool] | None = None  # a last check of a matched value
    left: bool = False  # the match must not follow a letter, digit, '_' or '-'


_PATTERNS: list[_Pattern] = [
    _Pattern(
        "pem-private-key",
        # the header, optional RFC 1421 headers, then a body of base64 lines (newlines
        # real or written as \n in JSON), to the END line or where the base64 stops:
        # a header mentioned in prose masks nothing, a key cut short is still masked
        re.compile(
            r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----"
            r"(?:[ \t]*(?:\r?\n|(?:\\r)?\\n))+"
            r"(?:[A-Za-z-]+:[^\n\\]*(?:\r?\n|\\n)+)*"
            r"(?:[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*(?:\r?\n|(?:\\r)?\\n|(?=-----)|\Z))+"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?"
        ),
        0,
        "-----BEGIN PRIVATE KEY-----",
        ("PRIVATE KEY",),
    ),
    _Pattern(
        "anthropic",
        re.compile(_B + r"(sk-ant-[A-Za-z0-9_\-]{16,})" + _E),
        1,
        "sk-ant-",
        ("sk-ant-",),
    ),
    _Pattern(
        "openai",
        re.compile(_B + r"(sk-proj-[A-Za-z0-9_\-]{16,})" + _E),
        1,
        "sk-proj-",
        ("sk-proj-",),
    ),
    _Pattern(
        "openai",
        re.compile(_B + r"(sk-(?:svcacct|admin|None)-[A-Za-z0-9_\-]{16,})" + _E),
        1,
        "sk-",
        ("sk-",),
    ),
    _Pattern("openai", re.compile(_B + r"(sk-[A-Za-z0-9]{20,})" + _E), 1, "sk-", ("sk-",)),
    _Pattern("google", re.compile(_B + r"(AIza[0-9A-Za-z_\-]{30,})" + _E), 1, "AIza", ("AIza",)),
    _Pattern(
        "github",
        re.compile(_B + r"(github_pat_[A-Za-z0-9_]{20,})" + _E),
        1,
        "github_pat_",
        ("github_pat_",),
    ),
    _Pattern(
        "github",
        re.compile(_B + r"(gh[pousr]_[A-Za-z0-9]{30,})" + _E),
        1,
        "",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    _Pattern(
        "aws-access-key-id",
        re.compile(
            r"(?<![A-Z0-9])((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[0-9A-Z]{16})(?![A-Z0-9])"
        ),
        1,
        "",
        ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA"),
        accept=lambda v: not _DNA.fullmatch(v),
    ),
    _Pattern(
        "aws-secret-access-key",
        re.compile(
            r"(?i)(?:aws_?secret_?access_?key|aws_?secret|secret_?access_?key)"
            r"[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
        ),
        1,
        "",
        ("aws_secret", "awssecret", "secret_access", "secretaccess"),
        True,
    ),
    _Pattern("slack", re.compile(_B + r"(xox[abposr]-[A-Za-z0-9\-]{10,})" + _E), 1, "", ("xox",)),
    _Pattern(
        "stripe", re.compile(_B + r"((?:sk|rk)_live_[A-Za-z0-9]{16,})" + _E), 1, "", ("_live_",)
    ),
    _Pattern("huggingface", re.compile(_B + r"(hf_[A-Za-z0-9]{30,})" + _E), 1, "hf_", ("hf_",)),
    _Pattern(
        "stripe", re.compile(_B + r"((?:sk|rk|pk)_test_[A-Za-z0-9]{16,})" + _E), 1, "", ("_test_",)
    ),
    _Pattern("npm", re.compile(_B + r"(npm_[A-Za-z0-9]{36})" + _E), 1, "npm_", ("npm_",)),
]
# An AWS key id is base32; a run of A, C, G, T (a DNA primer) that starts like one is not.
_DNA = re.compile(r"[ACGTUN]+")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

# `NAME = value` / `NAME: value` where NAME names a secret. A cheap regex finds the
# keyword and the value; the whole name is then checked against detect-secrets' keyword
# list (api_key, db_pass, password, secret ...; any case, with affixes), the names
# below in any case, and environment-style (upper-case) names ending in TOKEN, _KEY,
# _PASS or _PAT (API_KEY, OPENAI_KEY, DB_PASS, GH_PAT) - lower-case `sort_key` in code is not a secret.
# (the name's rest is bounded: unbounded, "key_key_key…" made every keyword backtrack over
# the whole rest of the text, 40 s for 100 KB)
_KEYWORD_RE = (
    r"(?:key|token|pass|pwd|secret|contrase|_pat(?![a-z]))[a-z0-9_ñ]{0,64}[\"'\]]{0,2}[ \t]*(?::=|[:=])[ \t]*"
    r"[\"'`]?([A-Za-z0-9_\-./+=!@#$%^&*~]{6,})(?![\[(A-Za-z0-9_\-./+=!@#$%^&*~])"
)
# run on the lower-cased text (7x faster than re.IGNORECASE), or case-blind when lowering
# changed the text's length (a few non-ASCII letters do)
_KEYWORD_CANDIDATE = re.compile(_KEYWORD_RE)
_NAME_REST = re.compile(r"[A-Za-z0-9_ñ]*")
_KEYWORD_CANDIDATE_ANY_CASE = re.compile(_KEYWORD_RE, re.IGNORECASE)
_ANY_CASE_NAMES = ("api_?token", "access_?token", "auth_?token", "secret_?token", "access_?key")
_UPPER_NAME = re.compile(r"(?:[A-Z0-9]+_)*[A-Z0-9]*(?:TOKEN|_KEY|_PASS|_PASSWD|_PWD|_PAT(?:_[0-9]+)?)")
_name_res: list[re.Pattern[str]] = []


def _secret_name(name: str) -> bool:
    if _UPPER_NAME.fullmatch(name):
        return True
    return any(r.fullmatch(name) for r in _name_res)


def _keyword_spans(text: str, lower: str | None = None) -> Iterable[tuple[int, int, str]]:
    """(start, end, value) of every credential assigned to a secret-named variable."""
    lower = text.lower() if lower is None else lower
    if len(lower) == len(text):
        matches = _KEYWORD_CANDIDATE.finditer(lower)
    else:
        matches = _KEYWORD_CANDIDATE_ANY_CASE.finditer(text)
    for m in matches:
        value = text[m.start(1):m.end(1)]
        if not _assignment_looks_secret(value):
            continue
        start = m.start()
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        name = text[start:m.start()] + _NAME_REST.match(text, m.start()).group()
        if _secret_name(name):
            yield m.start(1), m.end(1), value


def _bounded(regex: re.Pattern[str]) -> re.Pattern[str]:
    """A detect-secrets regex that must end at a token boundary (the start is checked in
    `_spans`: a leading look-behind would make Python try the regex at every offset)."""
    return re.compile("(" + regex.pattern + ")" + _E, regex.flags)


def _detector_patterns() -> list[_Pattern]:
    """Patterns taken from the maintained detect-secrets plugins (Yelp), each behind
    needles so that a text without their prefix costs nothing, and an entropy limit
    for the one shape without a prefix (an AWS secret access key without its label)."""
    try:
        from detect_secrets.plugins import (
            aws,
            basic_auth,
            gitlab_token,
            jwt,
            keyword,
            npm,
            pypi_token,
            sendgrid,
            slack,
            square_oauth,
            stripe,
            twilio,
        )
        from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
        from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString
    except ImportError:  # pragma: no cover - a declared dependency; our own shapes remain
        return []
    _name_res[:] = [re.compile(r"(?i)\w*(?:" + "|".join((*keyword.DENYLIST, *_ANY_CASE_NAMES))
                               + r")\w*")]
    entropy = Base64HighEntropyString(limit=AWS_SECRET_ENTROPY)

    def high_entropy(value: str) -> bool:
        return (any(c.isdigit() for c in value) and any(c.islower() for c in value)
                and any(c.isupper() for c in value)
                and entropy.calculate_shannon_entropy(value) > entropy.entropy_limit)

    gitlab_needles = ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941", "glcbt-",
                      "glimt-", "glptt-", "glagent-", "gloas-")
    return [
        *[_Pattern("gitlab", _bounded(r), 1, "", gitlab_needles, left=True)
          for r in gitlab_token.GitLabTokenDetector.denylist],
        _Pattern("slack", slack.SlackDetector.denylist[0], 0, "", ("xox",), True),
        _Pattern("slack-webhook", slack.SlackDetector.denylist[1], 0,
                 "https://hooks.slack.com/services/", ("hooks.slack.com",), True),
        *[_Pattern("stripe", _bounded(r), 1, "", ("k_live_",), left=True)
          for r in stripe.StripeDetector.denylist],
        _Pattern("url-password", basic_auth.BasicAuthDetector.denylist[0], 1, "", ("@",),
                 accept=lambda v: MASK not in v),
        _Pattern("npm", npm.NpmDetector.denylist[0], 1, "npm_", ("_authToken",)),
        _Pattern("jwt", re.compile(r"(eyJ[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]+\.[A-Za-z0-9_.+/=-]*)" + _E),
                 1, "eyJ", ("eyJ",), accept=jwt.JwtTokenDetector.is_formally_valid, left=True),
        _Pattern("aws-access-key-id", _bounded(aws.AWSKeyDetector.denylist[0]), 1, "",
                 ("A3T", "ABIA", "ACCA", "AKIA", "ASIA"), accept=lambda v: not _DNA.fullmatch(v),
                 left=True),
        _Pattern("aws-secret-access-key", aws.AWSKeyDetector.denylist[1], 1, "", ("aws",), True),
        _Pattern("aws-secret-access-key",
                 re.compile(r"(?<![A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"), 1, "",
                 accept=high_entropy),
        *[_Pattern("pypi", r, 0, "pypi-", ("pypi-",)) for r in pypi_token.PypiTokenDetector.denylist],
        *[_Pattern("sendgrid", r, 0, "SG.", ("SG.",)) for r in sendgrid.SendGridDetector.denylist],
        *[_Pattern("square", r, 0, "sq0csp-", ("sq0csp-",))
          for r in square_oauth.SquareOAuthDetector.denylist],
        *[_Pattern("azure-storage", r, 0, "AccountKey=", ("AccountKey=",))
          for r in AzureStorageKeyDetector.denylist],
        *[_Pattern("twilio", _bounded(r), 1, r.pattern[:2], (r.pattern[:2],), left=True,
                   accept=lambda v: any(c.isdigit() for c in v)) for r in twilio.TwilioKeyDetector.denylist],
        # credentials in an HTTP header or a webhook URL, whatever the service
        _Pattern("http-authorization",
                 re.compile(r"(?i)authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|token)\s+([A-Za-z0-9._~+/=-]{12,})"),
                 1, "", ("authorization",), True),
        _Pattern("discord-webhook", re.compile(r"discord(?:app)?\.com/api/webhooks/(\d+/[A-Za-z0-9_-]{30,})"),
                 1, "", ("/api/webhooks/",)),
    ]


AWS_SECRET_ENTROPY = 4.5  # bits per character: random base64 scores 4.6-5.1, a path ~4.2
_all_patterns: list[_Pattern] | None = None
_needles: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())  # case-sensitive, lower
_KEYWORD_NEEDLES = frozenset({"key", "token", "pass", "pwd", "secret", "contrase", "_pat"})
_needleless: list[_Pattern] = []  # the patterns that run on every text, in order


def _patterns() -> list[_Pattern]:
    """Our own shapes, then detect-secrets' (imported on the first scan, not at startup)."""
    global _all_patterns, _needles
    if _all_patterns is None:
        found = [*_PATTERNS, *_detector_patterns()]
        _needles = (frozenset(n for p in found if not p.nocase for n in p.needles),
                    frozenset({*(n for p in found if p.nocase for n in p.needles),
                               *_KEYWORD_NEEDLES}))
        _needleless[:] = [p for p in found if not p.needles]
        _all_patterns = found
    return _all_patterns


def mask(value: str, kind: str = "", prefix: str | None = None) -> str:
    """The masked form of a secret: a short prefix and ``…****``."""
    if prefix is None:
        prefix = ""
        for pat in _PATTERNS:
            if pat.prefix and value.startswith(pat.prefix) and pat.kind != "pem-private-key":
                prefix = pat.prefix
                break
    if kind == "pem-private-key":
        return "-----BEGIN PRIVATE KEY-----" + MASK + "-----END PRIVATE KEY-----"
    if not prefix:
        known = _KNOWN_PREFIX.match(value)
        # a long key keeps 4 characters to be told apart; a short one (a password) none
        prefix = known.group() if known else value[:4] if len(value) >= 20 else ""
    return prefix + MASK


# Prefixes that name a token's issuer and say nothing of its secret part.
_KNOWN_PREFIX = re.compile(
    r"(?:gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-|GR1348941|[spr]k_(?:test|live)_|npm_|"
    r"xox[abposr]-|SG\.|sq0csp-|pypi-)"
)


def _assignment_looks_secret(value: str) -> bool:
    return (
        any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and MASK not in value
        and not value.lower().startswith(("your", "change", "example", "xxx", "<"))
    )


def _spans(
    text: str,
    extra_env: Iterable[str] = (),
    extra_values: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> list[tuple[int, int, str, str]]:
    """Non-overlapping (start, end, kind, masked) spans of secrets in text."""
    found: list[tuple[int, int, str, str]] = []
    for value, kind in _secret_values(tuple(extra_env), environ, extra_values).items():
        start = 0
        while True:
            i = text.find(value, start)
            if i < 0:
                break
            found.append((i, i + len(value), kind, mask(value)))
            start = i + len(value)
    patterns = _patterns()
    # each needle is looked for once (a substring search in C); a pattern runs only when
    # one of its needles is present
    lower = text.lower()
    present = {n for n in _needles[0] if n in text} | {n for n in _needles[1] if n in lower}
    for pat in patterns if present else _needleless:  # the same order, fewer to skip
        if pat.needles and present.isdisjoint(pat.needles):
            continue
        for m in pat.regex.finditer(text):
            value = m.group(pat.group)
            if pat.left and m.start() and text[m.start() - 1] in _WORD_CHARS:
                continue
            if pat.accept is not None and not pat.accept(value):
                continue
            s, e = m.span(pat.group)
            found.append((s, e, pat.kind, mask(value, pat.kind, pat.prefix or None)))
    if not present.isdisjoint(_KEYWORD_NEEDLES):
        for s, e, value in _keyword_spans(text, lower):
            found.append((s, e, "key-assignment", mask(value, "key-assignment")))
    # keep the earliest, then the longest; drop overlaps
    found.sort(key=lambda t: (t[0], -(t[1] - t[0])))
    out: list[tuple[int, int, str, str]] = []
    end = -1
    for span in found:
        if span[0] >= end:
            out.append(span)
            end = span[1]
    return out


def redact(
    text: str,
    extra_env: Iterable[str] = (),
    *,
    extra_values: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> str:
    """`text` with every secret replaced by its masked form."""
    if not isinstance(text, str) or not text:
        return text
    spans = _spans(text, extra_env, extra_values, environ)
    if not spans:
        return text
    parts: list[str] = []
    pos = 0
    for s, e, _kind, masked in spans:
        parts.append(text[pos:s])
        parts.append(masked)
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


_SENSITIVE_KEY = re.compile(
    r"(?i)(api[_-]?key|secret|token|password|passwd|authorization|auth[_-]?header|"
    r"private[_-]?key|access[_-]?key|x-api-key|cookie)"
)
_NOT_SENSITIVE_KEY = re.compile(
    r"(?i)(^|_)(env|tokens|token_count|prompt_tokens|completion_tokens|total_tokens|"
    r"max_tokens|input_tokens|output_tokens)$"
)


def redact_obj(obj, extra_env: Iterable[str] = (), *, extra_values: Iterable[str] = ()):
    """A copy of a JSON-like object (dicts, lists, tuples, strings) with secrets masked.

    String values under sensitive keys (``api_key``, ``authorization``, ``password``
    ...) are masked entirely; names of variables (``api_key_env``) and token counts
    are kept.
    """
    extra_env = tuple(extra_env)
    extra_values = tuple(extra_values)

    def walk(o, key: str | None = None):
        if isinstance(o, str):
            if (
                key is not None
                and _SENSITIVE_KEY.search(key)
                and not _NOT_SENSITIVE_KEY.search(key)
                and len(o) >= 4
            ):
                return mask(o)
            return redact(o, extra_env, extra_values=extra_values)
        if isinstance(o, Mapping):
            return {k: walk(v, str(k)) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v, key) for v in o]
        if isinstance(o, tuple):
            return tuple(walk(v, key) for v in o)
        if isinstance(o, (set, frozenset)):
            return type(o)(walk(v, key) for v in o)
        if isinstance(o, bytes):
            try:
                return redact(o.decode("utf-8"), extra_env, extra_values=extra_values).encode()
            except UnicodeDecodeError:
                return o
        return o

    return walk(obj)


def redact_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of an environment with the values of key variables masked (for display)."""
    env = os.environ if environ is None else environ
    return {k: (mask(v) if is_key_env_name(k) and v else redact(v)) for k, v in env.items()}


# --- scanning ---------------------------------------------------------------


@dataclass(frozen=True)
class SecretFinding:
    path: str  # project-relative, posix
    line: int  # 1-based
    kind: str
    masked: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind} secret {self.masked}"


class SecretFound(WorkbenchError):
    """A generated file holds a secret: the commit is stopped (exit 1)."""

    exit_code = 1

    def __init__(self, findings: list[SecretFinding]):
        self.findings = list(findings)
        first = self.findings[0]
        more = f" (and {len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        super().__init__(
            f"secret found in {first.path} line {first.line}: {first.kind} {first.masked}"
            f"{more}; nothing was committed"
        )


def scan_text(
    text: str,
    path: str = "<text>",
    extra_env: Iterable[str] = (),
    *,
    extra_values: Iterable[str] = (),
) -> list[SecretFinding]:
    """Every secret in `text`, with its 1-based line number."""
    if not text:
        return []
    findings = []
    for s, _e, kind, masked in _spans(text, extra_env, extra_values):
        line = text.count("\n", 0, s) + 1
        findings.append(SecretFinding(str(path), line, kind, masked))
    return findings


SKIP_DIRS = frozenset({".git"})
MAX_SCAN_BYTES = 20 * 1024 * 1024


def scan_tree(
    root: Path | str,
    extra_env: Iterable[str] = (),
    *,
    skip_dirs: Iterable[str] = SKIP_DIRS,
    extra_values: Iterable[str] = (),
) -> list[SecretFinding]:
    """Scan every regular file below `root` (``.git`` skipped, symlinks not followed)."""
    root = Path(root)
    skip = set(skip_dirs)
    extra_env = tuple(extra_env)
    extra_values = tuple(extra_values)
    findings: list[SecretFinding] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                continue
            rel = full.relative_to(root).as_posix()
            try:
                with open(full, "rb") as fh:
                    data = fh.read(MAX_SCAN_BYTES)
            except OSError:
                continue
            text = data.decode("utf-8", errors="replace")
            findings.extend(scan_text(text, rel, extra_env, extra_values=extra_values))
    return findings


def check_tree(root: Path | str, extra_env: Iterable[str] = (), **kw) -> None:
    """Raise `SecretFound` (exit 1) when `scan_tree` finds anything."""
    findings = scan_tree(root, extra_env, **kw)
    if findings:
        raise SecretFound(findings)
