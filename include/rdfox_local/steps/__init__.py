"""The pod's step entrypoints: ``python -m rdfox_local.steps.prepare`` and ``... .steps.publish``.

Configured by environment variables only (the pod manifest sets them); they print one line per action and
exit non-zero with a one-line ``error:`` message, so ``kubectl logs`` says what went wrong.
"""
