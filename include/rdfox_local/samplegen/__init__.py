"""Deterministic sample transaction data in the shape of ../shared/reference/transactions-sample.nt."""

from __future__ import annotations

from .generator import SampleOptions, generate_lines, write_sample

__all__ = ["SampleOptions", "generate_lines", "write_sample"]
