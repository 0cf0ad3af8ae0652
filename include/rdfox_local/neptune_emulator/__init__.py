"""A local, faithful stand-in for Amazon Neptune's bulk loader and SPARQL endpoint.

Run it as its own process: ``python -m rdfox_local.neptune_emulator --host 127.0.0.1 --port 8182``.
It reads load sources from S3 (moto's server in tests), stores triples in pyoxigraph, answers the loader
API with Neptune's payload shapes, optionally checks SigV4 signatures, and exposes fault injection under
``/_emulator/``. See docs/neptune.md.
"""

from rdfox_local.neptune_emulator.config import EmulatorConfig
from rdfox_local.neptune_emulator.server import EmulatorServer, make_server

__all__ = ["EmulatorConfig", "EmulatorServer", "make_server"]
