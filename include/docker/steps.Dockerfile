# The pod's step images: prepare (init container) and publish (the pod's main container).
#
#   docker build -f include/docker/steps.Dockerfile --target prepare -t rdfox-pipeline/prepare:0.1.0 .
#   docker build -f include/docker/steps.Dockerfile --target publish -t rdfox-pipeline/publish:0.1.0 .
#
# Build context: the repository root. The entrypoints are this repository's modules
# (rdfox_local.steps.prepare / .publish), which tests run directly; the image adds only Python and boto3.
# No Airflow: the steps import nothing but the pure script generator (rdfox_pipeline.pod.script).
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm AS base

# Runs under the pod's read-only root filesystem: no byte-code writes, unbuffered one-line messages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/opt/rdfox-pipeline/plugins:/opt/rdfox-pipeline/include \
    HOME=/tmp

COPY include/docker/steps-requirements.txt /tmp/steps-requirements.txt
RUN pip install --no-cache-dir --no-compile -r /tmp/steps-requirements.txt \
    && rm /tmp/steps-requirements.txt \
    && groupadd --gid 1000 rdfox-pipeline \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin rdfox-pipeline

WORKDIR /opt/rdfox-pipeline
# Only the modules the steps need (root-owned, read-only to the step user).
COPY plugins/rdfox_pipeline/__init__.py plugins/rdfox_pipeline/__init__.py
COPY plugins/rdfox_pipeline/pod/ plugins/rdfox_pipeline/pod/
COPY plugins/rdfox_pipeline/domain/__init__.py plugins/rdfox_pipeline/domain/__init__.py
COPY plugins/rdfox_pipeline/domain/prefixes.py plugins/rdfox_pipeline/domain/prefixes.py
COPY include/rdfox_local/__init__.py include/rdfox_local/__init__.py
COPY include/rdfox_local/steps/ include/rdfox_local/steps/

# Numeric, so that the kubelet can check runAsNonRoot without a passwd lookup.
USER 1000:1000

FROM base AS prepare
ENTRYPOINT ["python", "-m", "rdfox_local.steps.prepare"]

FROM base AS publish
ENTRYPOINT ["python", "-m", "rdfox_local.steps.publish"]
