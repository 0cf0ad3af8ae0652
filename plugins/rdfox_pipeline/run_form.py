"""The DAG's params: the trigger form people fill in (Airflow builds the form from these JSON schemas).

Plain fields for an analyst first (dataset, cores, memory, the kept RDFox endpoint, bucket overrides), then
the whole-jobspec fields of the old system's users and of uploads in a section of their own (the schema key
``section``, which the trigger form of every Airflow 3 version we support groups by). How the fields combine
is ``domain/run_request.py``'s, and every description says it. The schemas refuse what they can say (types,
ranges, patterns); ``register_job`` refuses the rest naming the field (the job-id delimiter in a dataset
name, the operator's caps, a bucket the operator did not allow). Pure data: no I/O at parse time.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from rdfox_pipeline.domain import validators as v

ADVANCED_SECTION = "Advanced: a whole jobspec (instead of the fields above)"
_FORM_RULE = "Leave empty when you give a whole jobspec under Advanced: the two are not mixed."

JOBSPEC_DESCRIPTION = (
    "The jobspec itself, as a JSON object (new form, e.g. "
    '{"dataset": "SAMPLE", "resources": {"cores": 2, "memory": "2Gi"}}, or the old flat form). '
    "Used instead of the fields above (which must then stay empty); wins over the jobspec location. "
    "Leave empty ({}) to use the location or the fields above."
)
JOBSPEC_URI_DESCRIPTION = (
    "Where the jobspec is, when it is not given inline: s3://<bucket>/<dataset>/<name>.rdfoxjob.json, "
    "<dataset>/<name>.rdfoxjob.json in the input bucket. The run waits (deferred) until the object exists. "
    "Used instead of the fields above (which must then stay empty); an inline jobspec wins over it."
)


# A field the form sends as "" is empty (not given), as null is.
def _or_empty(pattern: str) -> str:
    return f"^$|{pattern}"


_BUCKET_RULE = (
    "Accepted only if it is the pipeline's own bucket or one the operator allows (setting "
    "JOBSPEC_ALLOWED_FIELDS, key {field!r}); otherwise the run fails at register_job naming this field."
)


def form_params() -> dict[str, Param]:
    """The DAG's ``params``: form fields, then the advanced section. Every default is empty, so that a run
    started by an upload or by the REST API with only a jobspec never picks up a form value."""
    fields: dict[str, Any] = {
        "dataset": Param(
            None,
            type=["null", "string"],
            title="Dataset",
            description=(
                "The dataset to reason over: its input files are under <input bucket>/<dataset>/. Letters, "
                "digits, '.', '-' and '_' (but not the job-id delimiter, '_' unless the operator changed "
                "it), starting with a letter or digit. Required unless a whole jobspec is given under "
                f"Advanced. {_FORM_RULE}"
            ),
            pattern=_or_empty(v.DATASET_PATTERN),
            maxLength=v.MAX_DATASET_LENGTH,
        ),
        "cores": Param(
            None,
            type=["null", "integer"],
            title="CPU cores",
            description=(
                "CPU cores for the RDFox pod. Empty: 4. The operator's cap (JOBSPEC_MAX_CORES) applies. "
                f"{_FORM_RULE}"
            ),
            minimum=1,
            maximum=v.MAX_CORES,
        ),
        "memory": Param(
            None,
            type=["null", "string"],
            title="Memory",
            description=(
                "Memory for the RDFox pod, as a Kubernetes quantity: e.g. 2Gi, 16Gi, 64Gi, 512Mi "
                "(Gi = 1024^3 bytes; G = 1000^3). Empty: 16Gi. The operator's cap (JOBSPEC_MAX_MEMORY) "
                f"applies. {_FORM_RULE}"
            ),
            pattern=_or_empty(v.QUANTITY_PATTERN),
            examples=["2Gi", "16Gi", "64Gi", "512Mi"],
        ),
        "keep_rdfox_endpoint": Param(
            False,
            type="boolean",
            title="Keep the RDFox endpoint",
            description=(
                "Keep an RDFox endpoint serving the job's answers after the job, for the time below (then "
                "it is ended). Off: nothing is kept."
            ),
        ),
        "rdfox_endpoint_ttl_hours": Param(
            None,
            type=["null", "integer"],
            title="Endpoint lifetime (hours)",
            description=(
                "How long the kept endpoint lives, in hours (1-720), only with 'Keep the RDFox endpoint' "
                "on. Empty: the RDFOX_ENDPOINT_TTL_HOURS setting. The operator's cap "
                "(JOBSPEC_MAX_ENDPOINT_TTL_HOURS) applies."
            ),
            minimum=1,
            maximum=24 * 30,
        ),
        "input_bucket": Param(
            None,
            type=["null", "string"],
            title="Input bucket (override)",
            description="The bucket the dataset is read from. Empty: the pipeline's input bucket. "
            + _BUCKET_RULE.format(field="job_bucket"),
            pattern=_or_empty(v.BUCKET_PATTERN),
        ),
        "output_bucket": Param(
            None,
            type=["null", "string"],
            title="Output bucket (override)",
            description="The bucket the answers and rdfox.log go to. Empty: the pipeline's output bucket. "
            + _BUCKET_RULE.format(field="output_bucket"),
            pattern=_or_empty(v.BUCKET_PATTERN),
        ),
        "jobspec": Param(
            {},
            type=["object", "null"],
            title="Jobspec (inline)",
            description=JOBSPEC_DESCRIPTION,
            section=ADVANCED_SECTION,
        ),
        "jobspec_uri": Param(
            "",
            type=["string", "null"],
            title="Jobspec location",
            description=JOBSPEC_URI_DESCRIPTION,
            pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+|[A-Za-z0-9][^:\s]*)?$",
            section=ADVANCED_SECTION,
        ),
    }
    return fields
