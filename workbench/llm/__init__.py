"""Models and agents. Only `workbench.llm.gateway` imports LiteLLM, and only lazily."""
