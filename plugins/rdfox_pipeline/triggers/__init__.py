"""Triggers of the pipeline (they run in Airflow's triggerer: async, serialisable, no blocking calls)."""
