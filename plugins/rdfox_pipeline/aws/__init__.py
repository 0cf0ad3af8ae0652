"""Thin AWS adapters used at task run time (SSM settings); never imported by the domain core."""
