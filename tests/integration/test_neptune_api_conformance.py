"""Issue 14 items 5, 6 and 7: requests Neptune accepts, its SPARQL endpoint's defaults, and GET /loader's
listing, held to the user guide (Loader Command, Get-Status requests, SPARQL HTTP API) over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.conftest import TEST_REGION
from tests.integration.conftest import TEST_ROLE_ARN, NeptuneEmulator, load_body

pytestmark = [pytest.mark.timeout(120)]
NT = "<http://a/s> <http://a/p> <http://a/o> .\n"
DEFAULT_NAMED_GRAPH = "http://aws.amazon.com/neptune/vocab/v01/DefaultNamedGraph"


def _completed(emulator: NeptuneEmulator, answer: requests.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    return emulator.wait_for_load(answer.json()["payload"]["loadId"])["overallStatus"]


@pytest.mark.parametrize("host", ["s3.amazonaws.com", f"s3.{TEST_REGION}.amazonaws.com"])
def test_https_source_forms_load_the_same_prefix(
    neptune_emulator: NeptuneEmulator, s3_source: Any, host: str
) -> None:
    source = s3_source({"a.nt": NT})
    https = source.replace("s3://", f"https://{host}/")
    overall = _completed(
        neptune_emulator, requests.post(f"{neptune_emulator.url}/loader", json=load_body(https), timeout=30)
    )
    assert overall["status"] == "LOAD_COMPLETED" and overall["totalRecords"] == 1
    assert overall["fullUri"] == https  # Neptune reports the source as it was given


def test_parameters_in_the_query_string_are_accepted(
    neptune_emulator: NeptuneEmulator, s3_source: Any
) -> None:
    source = s3_source({"a.nt": NT})
    graph = "http://example.org/g"
    params = {
        **load_body(source),
        "failOnError": "FALSE",
        "parserConfiguration": json.dumps({"namedGraphUri": graph}),
    }
    answer = requests.post(f"{neptune_emulator.url}/loader", params=params, timeout=30)
    assert _completed(neptune_emulator, answer)["status"] == "LOAD_COMPLETED"
    ask = f"ASK {{ GRAPH <{graph}> {{ <http://a/s> <http://a/p> <http://a/o> }} }}"
    assert requests.post(f"{neptune_emulator.url}/sparql", data={"query": ask}, timeout=30).json()["boolean"]


def test_form_body_with_a_role_that_is_not_attached_is_still_refused(
    neptune_emulator: NeptuneEmulator, s3_source: Any
) -> None:
    body = {
        **load_body(s3_source({"a.nt": NT})),
        "iamRoleArn": TEST_ROLE_ARN.replace("NeptuneLoadFromS3", "Other"),
    }
    answer = requests.post(f"{neptune_emulator.url}/loader", data=body, timeout=30)
    assert answer.status_code == 400
    assert answer.json()["detailedMessage"].startswith("Couldn't find the AWS credential for iam_role_arn")


def test_update_without_a_graph_writes_the_default_named_graph(
    neptune_emulator: NeptuneEmulator, s3_source: Any
) -> None:
    url = f"{neptune_emulator.url}/sparql"
    _completed(
        neptune_emulator,
        requests.post(f"{neptune_emulator.url}/loader", json=load_body(s3_source({"a.nt": NT})), timeout=30),
    )
    inserted = requests.post(
        url, data={"update": "INSERT DATA { <http://a/x> <http://a/p> <http://a/y> }"}, timeout=30
    )
    assert inserted.status_code == 200
    where = "SELECT ?g WHERE { GRAPH ?g { <http://a/x> <http://a/p> <http://a/y> } }"
    rows = requests.post(url, data={"query": where}, timeout=30).json()["results"]["bindings"]
    assert [row["g"]["value"] for row in rows] == [DEFAULT_NAMED_GRAPH]
    # ... and a DELETE without a graph removes a loaded triple (loads of triple formats go there too).
    requests.post(url, data={"update": "DELETE DATA { <http://a/s> <http://a/p> <http://a/o> }"}, timeout=30)
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    assert (
        requests.post(url, data={"query": count}, timeout=30).json()["results"]["bindings"][0]["n"]["value"]
        == "1"
    )


@pytest.mark.parametrize(
    ("query", "accept", "content_type"),
    [
        ("CONSTRUCT WHERE { ?s ?p ?o }", None, "application/n-quads"),
        ("CONSTRUCT WHERE { ?s ?p ?o }", "*/*", "application/n-quads"),
        ("CONSTRUCT WHERE { ?s ?p ?o }", "text/turtle;q=0.5, application/rdf+xml", "application/rdf+xml"),
        ("CONSTRUCT WHERE { ?s ?p ?o }", "application/n-triples;q=0.9, text/turtle", "text/turtle"),
        ("DESCRIBE <http://a/s>", "text/html, application/n-triples;q=0.1", "application/n-triples"),
        ("SELECT * WHERE { ?s ?p ?o }", None, "application/sparql-results+json"),
        (
            "SELECT * WHERE { ?s ?p ?o }",
            "text/csv;q=0, text/tab-separated-values",
            "text/tab-separated-values",
        ),
        ("SELECT * WHERE { ?s ?p ?o }", "application/*", "application/sparql-results+json"),
        ("ASK { ?s ?p ?o }", "application/sparql-results+xml", "application/sparql-results+xml"),
    ],
)
def test_sparql_answers_by_accept(
    neptune_emulator: NeptuneEmulator, query: str, accept: str | None, content_type: str
) -> None:
    url = f"{neptune_emulator.url}/sparql"
    requests.post(url, data={"update": "INSERT DATA { <http://a/s> <http://a/p> <http://a/o> }"}, timeout=30)
    headers = {"Accept": accept} if accept else {}
    answer = requests.post(url, data={"query": query}, headers=headers, timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == content_type
    assert answer.content


def test_loader_list_limit_order_and_queued_loads(neptune_emulator: NeptuneEmulator, s3_source: Any) -> None:
    url = f"{neptune_emulator.url}/loader"
    source = s3_source({"a.nt": NT})
    done = [
        _completed(neptune_emulator, requests.post(url, json=load_body(source, mode="NEW"), timeout=30))
        for _ in range(2)
    ]
    assert len(done) == 2
    finished = requests.get(url, timeout=30).json()["payload"]["loadIds"]
    neptune_emulator.control("throttle", {"seconds": 30})
    running = requests.post(url, json=load_body(source, mode="NEW"), timeout=30).json()["payload"]["loadId"]
    queued = [
        requests.post(url, json=load_body(source, mode="NEW", queueRequest="TRUE"), timeout=30).json()[
            "payload"
        ]["loadId"]
        for _ in range(2)
    ]
    listed = requests.get(url, timeout=30).json()["payload"]["loadIds"]
    # Queued loads first, most recently queued first; then the others, newest first.
    assert listed == [queued[1], queued[0], running, *finished]
    without = requests.get(url, params={"includeQueuedLoads": "FALSE"}, timeout=30).json()["payload"][
        "loadIds"
    ]
    assert without == [running, *finished]
    assert requests.get(url, params={"limit": 2}, timeout=30).json()["payload"]["loadIds"] == listed[:2]
    for limit in ("0", "101", "x"):
        bad = requests.get(url, params={"limit": limit}, timeout=30)
        assert bad.status_code == 400 and bad.json()["code"] == "BadRequestException"
        assert "limit" in bad.json()["detailedMessage"]
    for load_id in (*queued, running):
        requests.delete(f"{url}/{load_id}", timeout=30)
