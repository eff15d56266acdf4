"""Safety: the only file writer (path containment), the secret redactor, the sandbox."""
