"""The RDFox pod: the RDFox script generator, the pod manifest builder and the kept-up endpoint manifests.

Pure functions only (no Airflow, AWS SDK or Kubernetes client imports): the pod step images import
``rdfox_pipeline.pod.script`` too, and must not need Airflow.
"""
