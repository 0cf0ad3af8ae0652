"""Issue 16 item 2: the trigger form's fields, their precedence against a whole jobspec, and their schemas.

A form run must build the normalised jobspec an upload of the same JSON builds (``domain/run_request.py``,
then ``jobspec_policy.parse_jobspec_for_run``); the form's schemas (``rdfox_pipeline/run_form.py``) refuse
what they can, agreeing with the domain's checks.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from rdfox_pipeline.domain import validators as v
from rdfox_pipeline.domain.jobspec import JobSpecError
from rdfox_pipeline.domain.jobspec_policy import parse_jobspec_for_run
from rdfox_pipeline.domain.run_request import (
    FORM_FIELDS,
    RunRequestError,
    form_error,
    resolve_run_request,
)
from rdfox_pipeline.domain.settings import resolve_settings

ENV = {"INPUT_BUCKET": "rdfox-pipeline-input", "OUTPUT_BUCKET": "rdfox-pipeline-output"}
# What an untouched trigger form sends besides what the person filled in.
EMPTY_FORM: dict[str, Any] = {
    "dataset": None,
    "cores": None,
    "memory": None,
    "keep_rdfox_endpoint": False,
    "rdfox_endpoint_ttl_hours": None,
    "input_bucket": None,
    "output_bucket": None,
    "jobspec": {},
    "jobspec_uri": "",
}


def _form(**fields: Any) -> dict[str, Any]:
    return {**EMPTY_FORM, **fields}


def _run(params: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    request = resolve_run_request(params)
    assert request.document is not None
    return parse_jobspec_for_run(request.document, resolve_settings(env=env or ENV)).spec.to_json_dict()


def test_form_run_builds_the_jobspec_an_upload_of_the_same_json_builds() -> None:
    params = _form(
        dataset="SAMPLE", cores=2, memory="8Gi", keep_rdfox_endpoint=True, rdfox_endpoint_ttl_hours=6
    )
    uploaded = json.dumps(
        {
            "dataset": "SAMPLE",
            "resources": {"cores": 2, "memory": "8Gi"},
            "rdfox": {"keep_endpoint": True, "endpoint_ttl_hours": 6},
        }
    ).encode()
    assert resolve_run_request(params).source == "form"
    assert _run(params) == parse_jobspec_for_run(uploaded, resolve_settings(env=ENV)).spec.to_json_dict()
    # Only the dataset: every other value is the jobspec's default, exactly as for an upload naming only it.
    assert _run(_form(dataset="SAMPLE")) == _run({"jobspec": {"dataset": "SAMPLE"}})


def test_the_form_maps_each_field_to_one_jobspec_field() -> None:
    params = _form(
        dataset="D", cores=3, memory="3Gi", keep_rdfox_endpoint=True, rdfox_endpoint_ttl_hours=2,
        input_bucket="in-b", output_bucket="out-b",
    )  # fmt: skip
    assert resolve_run_request(params).document == {
        "dataset": "D",
        "resources": {"cores": 3, "memory": "3Gi"},
        "rdfox": {"keep_endpoint": True, "endpoint_ttl_hours": 2},
        "job_bucket": "in-b",
        "output_bucket": "out-b",
    }
    assert set(FORM_FIELDS) == {k for k in EMPTY_FORM if k not in ("jobspec", "jobspec_uri")}


def test_precedence_inline_then_location_then_form() -> None:
    inline = {"dataset": "INLINE"}
    both = resolve_run_request({**EMPTY_FORM, "jobspec": inline, "jobspec_uri": "s3://b/X/x.rdfoxjob.json"})
    assert (both.source, both.document, both.location) == ("jobspec", inline, None)
    located = resolve_run_request(_form(jobspec_uri=" s3://b/X/x.rdfoxjob.json "))
    assert (located.source, located.document, located.location) == (
        "jobspec_uri",
        None,
        "s3://b/X/x.rdfoxjob.json",
    )
    # An untouched form, or a REST conf with nothing, names no jobspec at all.
    assert resolve_run_request(EMPTY_FORM).source is None
    assert resolve_run_request({}).source is None
    # A REST client may send the jobspec as JSON text: kept as text for the jobspec check to parse.
    assert resolve_run_request({"jobspec": '{"dataset": "T"}'}).document == '{"dataset": "T"}'
    assert resolve_run_request({"jobspec": "{}"}).source is None


@pytest.mark.parametrize("advanced", [{"jobspec": {"dataset": "X"}}, {"jobspec_uri": "X/x.rdfoxjob.json"}])
def test_form_fields_never_mix_with_a_whole_jobspec(advanced: dict[str, Any]) -> None:
    with pytest.raises(RunRequestError) as caught:
        resolve_run_request(_form(cores=8, memory="4Gi", **advanced))
    assert caught.value.path == "cores"
    assert (
        next(iter(advanced)) in caught.value.problem and "clear the one or the other" in caught.value.problem
    )
    # Whitespace and "keep endpoint" off are the form's empty values: they do not count as given.
    assert resolve_run_request(_form(dataset="  ", **advanced)).source == next(iter(advanced))


def test_form_without_dataset_or_with_a_ttl_but_no_kept_endpoint_is_refused() -> None:
    with pytest.raises(
        RunRequestError,
        match=r"^dataset: is required when the form's fields are used \(given: cores, memory\)",
    ):
        resolve_run_request(_form(cores=2, memory="2Gi"))
    with pytest.raises(RunRequestError, match=r"^rdfox_endpoint_ttl_hours: applies only to a kept endpoint"):
        resolve_run_request(_form(dataset="D", rdfox_endpoint_ttl_hours=3))
    with pytest.raises(RunRequestError, match=r"^jobspec: expected a JSON object, got list"):
        resolve_run_request({"jobspec": ["x"]})


def test_errors_in_a_form_built_jobspec_name_the_form_field() -> None:
    def error(params: dict[str, Any], env: dict[str, str] | None = None) -> str:
        with pytest.raises(JobSpecError) as caught:
            _run(params, env)
        return str(form_error(caught.value))

    # What only a run knows: the job-id delimiter, the operator's caps.
    assert error(_form(dataset="MY_DATA")).startswith(
        "dataset: 'MY_DATA' must not contain the job-id delimiter"
    )
    assert error(_form(dataset="D", cores=64), {**ENV, "JOBSPEC_MAX_CORES": "16"}) == (
        "cores (resources.cores): 64 is over the operator's cap JOBSPEC_MAX_CORES (16)"
    )
    # A REST conf is not held to the form's schema: its wrong types are named by the form's field too.
    assert error(_form(dataset="D", cores="4")) == "cores (resources.cores): expected an integer, got string"
    assert error(_form(dataset="D", memory="lots")).startswith(
        "memory (resources.memory): 'lots' is not a Kubernetes"
    )
    # An error elsewhere keeps its own name.
    assert str(form_error(JobSpecError("jobspec", "x"))) == "jobspec: x"


def test_bucket_fields_obey_the_trust_boundary_as_the_jobspec_fields_they_set() -> None:
    # The operator's own bucket is accepted (and is what a form that names it runs with).
    assert (
        _run(_form(dataset="D", output_bucket="rdfox-pipeline-output"))["output_bucket"]
        == "rdfox-pipeline-output"
    )
    # Another is closed, named by the form's field ...
    with pytest.raises(JobSpecError) as caught:
        _run(_form(dataset="D", input_bucket="someone-elses"))
    assert str(form_error(caught.value)).startswith("input_bucket (job_bucket): closed to jobspecs")
    # ... unless the operator opened it for that value.
    allowed = {**ENV, "JOBSPEC_ALLOWED_FIELDS": json.dumps({"job_bucket": ["team-b-input"]})}
    assert _run(_form(dataset="D", input_bucket="team-b-input"), allowed)["job_bucket"] == "team-b-input"


# -- the form's schemas agree with the domain's checks ---------------------------------------------------


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    from rdfox_pipeline.run_form import ADVANCED_SECTION, form_params

    params = form_params()
    assert [name for name, p in params.items() if p.schema.get("section") == ADVANCED_SECTION] == [
        "jobspec",
        "jobspec_uri",
    ]
    for name, param in params.items():
        assert param.schema["title"] and param.description, name
    return {name: param.schema for name, param in params.items()}


def _accepts(schema: dict[str, Any], value: Any) -> bool:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "value", ["SAMPLE", "a.b-c", "x" * 100, "A_B", "", "-x", "a..b", "a/b", "x" * 101, "ä", "a b", ".x"]
)
def test_dataset_schema_agrees_with_the_dataset_check(schemas: dict[str, Any], value: str) -> None:
    try:
        v.check_dataset(value, delimiter="")  # the delimiter is a run-time setting: the schema cannot know it
        valid = True
    except ValueError:
        valid = value == ""  # the form's empty value: not given
    assert _accepts(schemas["dataset"], value) is valid


@pytest.mark.parametrize(
    "value", ["16Gi", "512Mi", "1.5Gi", "16G", "1e9", ".5Ti", "16 Gi", "16gb", "Gi", "-1Gi", ""]
)
def test_memory_schema_agrees_with_the_quantity_check(schemas: dict[str, Any], value: str) -> None:
    try:
        v.quantity_bytes(value)
        valid = True
    except ValueError:
        valid = value == ""
    assert _accepts(schemas["memory"], value) is valid


def test_number_and_bucket_schemas_refuse_what_the_domain_refuses(schemas: dict[str, Any]) -> None:
    assert _accepts(schemas["cores"], 4) and _accepts(schemas["cores"], None)
    for bad in (0, -1, v.MAX_CORES + 1, 2.5, "4"):
        assert not _accepts(schemas["cores"], bad), bad
    assert _accepts(schemas["rdfox_endpoint_ttl_hours"], 720)
    assert not _accepts(schemas["rdfox_endpoint_ttl_hours"], 721)
    assert not _accepts(schemas["rdfox_endpoint_ttl_hours"], 0)
    for field in ("input_bucket", "output_bucket"):
        assert _accepts(schemas[field], "team-b-input") and _accepts(schemas[field], None)
        assert not _accepts(schemas[field], "Team_B")
        assert not _accepts(schemas[field], "s3://team-b-input")
    assert not _accepts(schemas["keep_rdfox_endpoint"], "yes")
