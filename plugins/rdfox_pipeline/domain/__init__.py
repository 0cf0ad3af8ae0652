"""The pure domain core: no Airflow, AWS SDK or HTTP imports anywhere below this package."""
