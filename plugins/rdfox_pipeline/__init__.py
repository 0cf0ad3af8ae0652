"""rdfox-pipeline: Airflow 3 DAGs that run RDFox reasoning jobs and bulk-load the findings into Neptune."""

__version__ = "0.1.0"
