"""The embedded local stack (``rdfox-pipeline local up|down|status|demo``); see docs/local-stack.md."""
