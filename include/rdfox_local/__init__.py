"""What runs outside Airflow: pod step entrypoints, emulators, the local reasoner and the local stack."""
