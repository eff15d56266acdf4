"""The spec: `spec.md`, Markdown with YAML front matter (design.md, "The spec").

`parse_spec` reads text, `load_spec` reads a file, `validate` checks it against the
contract and raises a `SpecError` naming the file, the line and the field. A spec's
identity is the sha256 of its exact bytes: an unedited spec is written back
byte for byte (`Spec.raw`).
"""

from workbench.spec.model import (
    ARGUMENT_TYPES,
    DEFAULT_INTEGRATIONS,
    MAX_SPEC_BYTES,
    OPTION_TYPES,
    Spec,
    SpecError,
    ident,
    load_spec,
    parse_spec,
    write_spec,
)
from workbench.spec.validate import validate, validation_errors

__all__ = [
    "ARGUMENT_TYPES",
    "DEFAULT_INTEGRATIONS",
    "MAX_SPEC_BYTES",
    "OPTION_TYPES",
    "Spec",
    "SpecError",
    "ident",
    "load_spec",
    "parse_spec",
    "validate",
    "validation_errors",
    "write_spec",
]
