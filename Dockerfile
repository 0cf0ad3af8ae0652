# The Airflow image for docker-compose.yaml: the official image of the pinned Airflow version plus this
# project. Build context: the repository root (see .dockerignore).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION
ARG PYTHON_VERSION
# The constraints file pins every transitive dependency to what this Airflow release was tested with:
# installing without it lets pip upgrade Airflow's own dependencies and break the image.
ENV RDFOX_PIPELINE_CONSTRAINTS="https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt"

# Directories owned by the airflow user (group 0, as the official image does for arbitrary AIRFLOW_UIDs):
# - /opt/rdfox-pipeline: pip builds the project in-tree, so the airflow user must be able to write there;
# - /opt/airflow/k8s-secrets: mount point of docker-compose.yaml's k8s-secrets volume. A new named volume
#   takes this directory's owner and mode, so local-setup can write the emulator's secrets into it.
USER root
RUN install -d -o airflow -g 0 -m 0775 /opt/rdfox-pipeline \
    && install -d -o airflow -g 0 -m 0770 /opt/airflow/k8s-secrets
USER airflow
WORKDIR /opt/rdfox-pipeline
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 plugins/ plugins/
COPY --chown=airflow:0 include/ include/

# 1. The project's runtime requirements (read from pyproject.toml, the single source) under Airflow's
#    constraints, with apache-airflow pinned so that nothing can move it.
# 2. The project itself with --no-deps: its requirements are already there, and the constraints hold.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/rdfox-pipeline-requirements.txt \
    && pip install --no-cache-dir --constraint "${RDFOX_PIPELINE_CONSTRAINTS}" \
        "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/rdfox-pipeline-requirements.txt \
    && pip install --no-cache-dir --no-deps . \
    && rm -f /tmp/rdfox-pipeline-requirements.txt

WORKDIR /opt/airflow
