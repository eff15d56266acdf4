"""Safety: the only file writer (path containment), the secret redactor, the sandbox.

- `paths`: `write_file(root, rel, content, mode=0o644)` -- the ONLY function that
  writes a project file (openat/O_NOFOLLOW walk, temp file + rename, ENOSPC ->
  `DiskFull`); `resolve_inside`, `check_relative`, `is_inside`, `UnsafePath`.
- `redact`: `redact(text)`, `redact_obj(obj)`, `scan_text`, `scan_tree`,
  `check_tree` (raises `SecretFound`, exit 1), `register_key_env(name)`.
- `sandbox`: `run(cmd, cwd, *, timeout, memory_mb, writable, env,
  allow_unsandboxed) -> RunResult`, `sandbox_available()`, `SandboxUnavailable`,
  `clean_env()`.
- `gitsafe`: `safe_git_env()`, `git_config_overrides()`, `identity()`,
  `isolate_process_env()`, `run_git(args, cwd)`.

Core package: never imports textual, rich, litellm (nor GitPython).
"""
