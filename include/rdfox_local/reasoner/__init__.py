"""RDFox-compatible local reasoner: a Datalog engine for RDFox rule files and a runner for RDFox scripts.

``python -m rdfox_local.reasoner sandbox <root> "exec <script>"`` runs a script as RDFox would (or the real
RDFox, when licensed: see ``rdfox_launcher``). See docs/reasoner.md.
"""

from __future__ import annotations

__version__ = "0.1.0"
ENGINE_BANNER = (
    f"rdfox-pipeline local reasoner {__version__} (RDFox-compatible; Datalog engine over pyoxigraph)"
)

__all__ = ["ENGINE_BANNER", "__version__"]
