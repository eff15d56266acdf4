"""Integration: git (no hooks ever), CI validation, and running the generated project."""
