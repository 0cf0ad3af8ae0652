"""The Neptune loader emulator as its own process over HTTP, reading sources from moto's S3."""

from __future__ import annotations

import time

import pytest
import requests
from requests_aws4auth import AWS4Auth

from tests.conftest import TEST_REGION
from tests.integration.conftest import (
    NEPTUNE_SIGV4_ACCESS_KEY,
    NEPTUNE_SIGV4_SECRET_KEY,
    NEPTUNE_SIGV4_SESSION_TOKEN,
    NeptuneEmulator,
    load_body,
)

EX = "http://oxfordsemantic.tech/transactions/"
NT = (
    f'<{EX}entities#t1> <{EX}properties#hasAmount> "10.5"^^<http://www.w3.org/2001/XMLSchema#decimal> .\n'
    f"<{EX}entities#t1> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{EX}classes#Transaction> .\n"
    f"<{EX}entities#t2> <{EX}properties#hasOriginator> <{EX}entities#p1> .\n"
)
SAMPLES = {
    "ntriples": ("a.nt", NT),
    "nquads": ("a.nq", NT.replace(" .\n", f" <{EX}graph> .\n")),
    "turtle": (
        "a.ttl",
        f"@prefix e: <{EX}entities#> . @prefix p: <{EX}properties#> .\n"
        "e:t1 p:hasAmount 10.5 ; a <http://example.org/T> .\ne:t2 p:hasOriginator e:p1 .\n",
    ),
    "rdfxml": (
        "a.rdf",
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        f'xmlns:p="{EX}properties#"><rdf:Description rdf:about="{EX}entities#t1">'
        "<p:hasAmount>10.5</p:hasAmount>"
        '<p:x>1</p:x></rdf:Description><rdf:Description rdf:about="http://e/t2"><p:y>2</p:y></rdf:Description>'
        "</rdf:RDF>",
    ),
}


def post(emulator: NeptuneEmulator, body: dict, **kwargs) -> requests.Response:
    return requests.post(f"{emulator.url}/loader", json=body, timeout=30, **kwargs)


def count(emulator: NeptuneEmulator) -> int:
    answer = requests.post(
        f"{emulator.url}/sparql", data={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"}, timeout=30
    ).json()
    return int(answer["results"]["bindings"][0]["n"]["value"])


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_each_rdf_format_loads_and_is_queryable(neptune_emulator, s3_source, fmt):
    name, text = SAMPLES[fmt]
    source = s3_source({name: text})
    response = post(neptune_emulator, load_body(source, fmt))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "200 OK"
    payload = neptune_emulator.wait_for_load(answer["payload"]["loadId"])
    overall = payload["overallStatus"]
    assert overall["status"] == "LOAD_COMPLETED", payload
    assert overall["fullUri"] == source
    assert overall["totalRecords"] == 3 and overall["totalDuplicates"] == 0 and overall["parsingErrors"] == 0
    assert payload["feedCount"] == [{"LOAD_COMPLETED": 1}]
    assert payload["failedFeeds"] == []
    assert payload["errors"]["errorLogs"] == [] and payload["errors"]["startIndex"] == 0
    assert set(overall) >= {
        "runNumber",
        "retryNumber",
        "totalTimeSpent",
        "startTime",
        "insertErrors",
        "datatypeMismatchErrors",
    }
    assert count(neptune_emulator) == 3


def test_payload_shape_matches_the_reference(neptune_emulator, s3_source, reference_dir):
    import json

    reference = json.loads((reference_dir / "neptune-loader-status-completed.json").read_text())
    source = s3_source({"a.nt": NT, "b.nt": NT})
    load_id = post(neptune_emulator, load_body(source)).json()["payload"]["loadId"]
    neptune_emulator.wait_for_load(load_id)
    answer = requests.get(
        f"{neptune_emulator.url}/loader/{load_id}?details=false&errors=true", timeout=30
    ).json()
    assert answer.keys() == reference.keys()
    assert answer["payload"].keys() == reference["payload"].keys()
    assert list(answer["payload"]["overallStatus"]) == list(reference["payload"]["overallStatus"])
    assert answer["payload"]["errors"].keys() == reference["payload"]["errors"].keys()
    overall = answer["payload"]["overallStatus"]
    # the second file repeats the first: Neptune counts those as duplicates
    assert (overall["totalRecords"], overall["totalDuplicates"]) == (6, 3)
    assert answer["payload"]["feedCount"] == [{"LOAD_COMPLETED": 2}]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"source": None}, "Missing required parameter(s): source"),
        ({"format": "json"}, "Invalid format"),
        ({"format": "csv"}, "property-graph format"),
        ({"iamRoleArn": "not-an-arn"}, "Invalid iamRoleArn"),
        ({"region": "us-east-1"}, "Region"),
        ({"source": "http://bucket/x"}, "Invalid source"),
        ({"failOnError": "maybe"}, "failOnError"),
        ({"mode": "SOMETIMES"}, "mode"),
        ({"parallelism": "HUGE"}, "parallelism"),
        ({"bogus": 1}, "Unrecognized parameter(s): bogus"),
        ({"parserConfiguration": {"baseUri": "no iri"}}, "baseUri"),
        ({"source": "s3://no-such-bucket-neptune-emu/x/"}, "S3 bucket not found"),
    ],
)
def test_validation_errors_are_neptune_400s(neptune_emulator, s3_source, change, needle):
    body = load_body(s3_source({"a.nt": NT}))
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = post(neptune_emulator, body)
    assert response.status_code == 400
    error = response.json()
    # A missing parameter has its own code in the neptunedata model (issue 14, item 3).
    missing = needle.startswith("Missing required")
    assert error["code"] == ("MissingParameterException" if missing else "BadRequestException")
    assert error["requestId"] and needle in error["detailedMessage"]
    assert neptune_emulator.stats()["loader"].get("loads_submitted", 0) == 0


def test_empty_prefix_is_refused(neptune_emulator, s3_source):
    source = s3_source({"a.nt": NT})
    response = post(neptune_emulator, load_body(source + "nothing-here/"))
    assert response.status_code == 400
    assert "does not exist/not reachable" in response.json()["detailedMessage"]


def test_form_encoded_request_is_accepted(neptune_emulator, s3_source):
    body = load_body(s3_source({"a.nt": NT}))
    response = requests.post(f"{neptune_emulator.url}/loader", data=body, timeout=30)
    assert response.status_code == 200, response.text
    assert neptune_emulator.wait_for_load(response.json()["payload"]["loadId"])["overallStatus"][
        "status"
    ] == ("LOAD_COMPLETED")


def _bad_nt() -> str:
    return NT + "<http://a> <not-absolute> <http://c> .\n" + "<http://x/y> <http://x/p> <http://x/o> .\n"


def test_fail_on_error_true_stops_with_load_failed(neptune_emulator, s3_source):
    source = s3_source({"a.nt": _bad_nt(), "b.nt": "<http://z> <http://z> <http://z> .\n"})
    load_id = post(neptune_emulator, load_body(source, failOnError="TRUE")).json()["payload"]["loadId"]
    payload = neptune_emulator.wait_for_load(load_id)
    assert payload["overallStatus"]["status"] == "LOAD_FAILED"
    assert payload["overallStatus"]["parsingErrors"] == 1
    [error] = payload["errors"]["errorLogs"]
    assert error["errorCode"] == "PARSING_ERROR" and error["recordNum"] == 4
    assert error["fileName"].endswith("/a.nt")
    assert payload["failedFeeds"][0]["fullUri"].endswith("/a.nt")
    assert count(neptune_emulator) == 3  # what came before the error persists; the rest never loads


def test_fail_on_error_false_skips_bad_records_and_completes(neptune_emulator, s3_source):
    source = s3_source({"a.nt": _bad_nt() + "garbage\n", "b.nt": "<http://z> <http://z> <http://z> .\n"})
    load_id = post(neptune_emulator, load_body(source, failOnError="FALSE")).json()["payload"]["loadId"]
    payload = neptune_emulator.wait_for_load(load_id)
    overall = payload["overallStatus"]
    assert overall["status"] == "LOAD_COMPLETED"
    assert overall["parsingErrors"] == 2 and overall["totalRecords"] == 7
    assert sorted(e["recordNum"] for e in payload["errors"]["errorLogs"]) == [4, 6]
    assert count(neptune_emulator) == 5
    # paging through the errors
    page2 = neptune_emulator.load_status(load_id, "errors=true&page=2&errorsPerPage=1")["errors"]
    assert (page2["startIndex"], page2["endIndex"], len(page2["errorLogs"])) == (2, 2, 1)


def test_fail_on_error_false_with_nothing_loadable_fails(neptune_emulator, s3_source):
    source = s3_source({"a.ttl": "this is not turtle"})
    load_id = post(neptune_emulator, load_body(source, "turtle", failOnError="FALSE")).json()["payload"][
        "loadId"
    ]
    assert neptune_emulator.wait_for_load(load_id)["overallStatus"]["status"] == "LOAD_FAILED"


def test_concurrent_load_refused_without_queue_request_and_queued_with_it(neptune_emulator, s3_source):
    neptune_emulator.control("throttle", {"seconds": 1.0})
    source = s3_source({"a.nt": NT})
    first = post(neptune_emulator, load_body(source)).json()["payload"]["loadId"]
    refused = post(neptune_emulator, load_body(source))
    assert refused.status_code == 400
    assert "Max concurrent load limit breached" in refused.json()["detailedMessage"]
    queued = post(neptune_emulator, load_body(source, queueRequest="TRUE")).json()["payload"]["loadId"]
    assert neptune_emulator.load_status(queued)["overallStatus"]["status"] == "LOAD_IN_QUEUE"
    assert neptune_emulator.load_status(first)["overallStatus"]["status"] == "LOAD_IN_PROGRESS"
    ids = requests.get(f"{neptune_emulator.url}/loader", timeout=30).json()["payload"]["loadIds"]
    assert ids == [queued, first]  # queued loads first, as Neptune lists them
    assert requests.get(f"{neptune_emulator.url}/loader?limit=1", timeout=30).json()["payload"][
        "loadIds"
    ] == [queued]
    assert neptune_emulator.wait_for_load(first)["overallStatus"]["status"] == "LOAD_COMPLETED"
    second = neptune_emulator.wait_for_load(queued)["overallStatus"]
    # same source, mode AUTO: the second run resumes and finds every file already loaded
    assert second["status"] == "LOAD_COMPLETED" and second["runNumber"] == 2 and second["totalRecords"] == 0


def test_queue_limit_is_64(neptune_emulator, s3_source):
    neptune_emulator.control("throttle", {"seconds": 30.0})
    source = s3_source({"a.nt": NT})
    running = post(neptune_emulator, load_body(source)).json()["payload"]["loadId"]
    queued = [post(neptune_emulator, load_body(source, queueRequest="TRUE")) for _ in range(64)]
    assert all(r.status_code == 200 for r in queued)
    over = post(neptune_emulator, load_body(source, queueRequest="TRUE"))
    assert (
        over.status_code == 400 and "queue size limit breached. Limit is 64" in over.json()["detailedMessage"]
    )
    requests.delete(f"{neptune_emulator.url}/loader/{running}", timeout=30)


def test_cancel_running_and_queued_loads(neptune_emulator, s3_source):
    neptune_emulator.control("throttle", {"seconds": 10.0})
    source = s3_source({"a.nt": NT})
    running = post(neptune_emulator, load_body(source)).json()["payload"]["loadId"]
    queued = post(neptune_emulator, load_body(source, queueRequest="TRUE")).json()["payload"]["loadId"]
    for load_id in (queued, running):
        answer = requests.delete(f"{neptune_emulator.url}/loader/{load_id}", timeout=30)
        assert answer.status_code == 200 and answer.json() == {"status": "200 OK"}
        assert neptune_emulator.load_status(load_id)["overallStatus"]["status"] == "LOAD_CANCELLED_BY_USER"
    for load_id in (running, "00000000-0000-0000-0000-000000000000"):  # ended, unknown: Cancel Job's 404
        again = requests.delete(f"{neptune_emulator.url}/loader/{load_id}", timeout=30)
        assert again.status_code == 404 and again.json()["code"] == "BulkLoadIdNotFoundException"
        assert again.json()["detailedMessage"] == f"The load with id = {load_id} does not exist or not active"
    by_query = requests.delete(f"{neptune_emulator.url}/loader?loadId={running}", timeout=30)
    assert by_query.status_code == 404
    missing = requests.get(f"{neptune_emulator.url}/loader/00000000-0000-0000-0000-000000000000", timeout=30)
    assert missing.status_code == 404 and missing.json()["code"] == "BulkLoadIdNotFoundException"
    assert count(neptune_emulator) == 0


def test_throttle_keeps_a_load_in_progress(neptune_emulator, s3_source):
    neptune_emulator.control("throttle", {"seconds": 0.8})
    source = s3_source({"a.nt": NT})
    began = time.monotonic()
    load_id = post(neptune_emulator, load_body(source)).json()["payload"]["loadId"]
    time.sleep(0.3)
    assert neptune_emulator.load_status(load_id)["overallStatus"]["status"] == "LOAD_IN_PROGRESS"
    assert neptune_emulator.wait_for_load(load_id)["overallStatus"]["status"] == "LOAD_COMPLETED"
    assert time.monotonic() - began >= 0.8


def test_feed_deleted_during_load_is_reported(neptune_emulator, s3_source):
    import boto3

    neptune_emulator.control("throttle", {"seconds": 0.5})
    source = s3_source({"a.nt": NT})
    load_id = post(neptune_emulator, load_body(source)).json()["payload"]["loadId"]
    bucket, key = source[5:].split("/", 1)
    boto3.client("s3", region_name=TEST_REGION).delete_object(Bucket=bucket, Key=key + "a.nt")
    payload = neptune_emulator.wait_for_load(load_id)
    assert payload["overallStatus"]["status"] == "LOAD_FAILED"
    assert payload["failedFeeds"][0]["status"] == "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED"


def test_forced_final_status(neptune_emulator, s3_source):
    neptune_emulator.control("next-load-status", {"status": "LOAD_S3_ACCESS_DENIED_ERROR"})
    source = s3_source({"a.nt": NT})
    load_id = post(neptune_emulator, load_body(source)).json()["payload"]["loadId"]
    payload = neptune_emulator.wait_for_load(load_id)
    assert payload["overallStatus"]["status"] == "LOAD_S3_ACCESS_DENIED_ERROR"
    assert payload["errors"]["errorLogs"][0]["errorCode"] == "LOAD_S3_ACCESS_DENIED_ERROR"
    # consumed: the next load is normal
    second = post(neptune_emulator, load_body(source, mode="NEW")).json()["payload"]["loadId"]
    assert neptune_emulator.wait_for_load(second)["overallStatus"]["status"] == "LOAD_COMPLETED"


def test_fault_injection_answers_the_next_n_requests(neptune_emulator):
    neptune_emulator.control("faults", {"status": 429, "count": 2})
    codes = [requests.get(f"{neptune_emulator.url}/status", timeout=30).status_code for _ in range(3)]
    assert codes == [429, 429, 200]
    assert neptune_emulator.stats()["faults"]["injected_failures"] == 2
    with pytest.raises(requests.HTTPError):
        requests.post(
            f"{neptune_emulator.url}/_emulator/faults", json={"status": 418}, timeout=30
        ).raise_for_status()


def test_sparql_update_query_and_errors(neptune_emulator):
    url = f"{neptune_emulator.url}/sparql"
    update = requests.post(
        url, data={"update": "INSERT DATA { <http://a> <http://b> <http://c> }"}, timeout=30
    )
    assert update.status_code == 200 and update.json()[-1]["type"] == "Commit"
    raw = requests.post(
        url, data="ASK { <http://a> ?p ?o }", headers={"Content-Type": "application/sparql-query"}, timeout=30
    )
    assert raw.json()["boolean"] is True
    got = requests.get(url, params={"query": "CONSTRUCT WHERE { ?s ?p ?o }"}, timeout=30)
    assert got.headers["Content-Type"] == "application/n-quads" and "<http://a>" in got.text  # the default
    bad = requests.post(url, data={"query": "SELEKT"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["code"] == "MalformedQueryException"
    status = requests.get(f"{neptune_emulator.url}/status", timeout=30).json()
    assert status["status"] == "healthy"


def _auth(
    key: str = NEPTUNE_SIGV4_ACCESS_KEY,
    secret: str = NEPTUNE_SIGV4_SECRET_KEY,
    region: str = TEST_REGION,
    service: str = "neptune-db",
    token: str | None = NEPTUNE_SIGV4_SESSION_TOKEN,
) -> AWS4Auth:
    return AWS4Auth(key, secret, region, service, session_token=token)


def test_sigv4_signed_requests_are_accepted(neptune_emulator_sigv4, s3_source):
    auth = _auth()
    source = s3_source({"a.nt": NT})
    response = post(neptune_emulator_sigv4, load_body(source), auth=auth)
    assert response.status_code == 200, response.text
    load_id = response.json()["payload"]["loadId"]
    status = requests.get(
        f"{neptune_emulator_sigv4.url}/loader/{load_id}", params={"details": "true"}, auth=auth, timeout=30
    )
    assert status.status_code == 200, status.text


@pytest.mark.parametrize(
    "auth",
    [
        None,
        _auth(secret="wrong-secret"),
        _auth(key="AKIDSOMEONEELSE"),
        _auth(service="s3"),
        _auth(region="us-east-1"),
        _auth(token=None),
        _auth(token="someone-elses-session-token"),
    ],
    ids=["unsigned", "bad-secret", "unknown-key", "wrong-service", "wrong-region", "no-token", "bad-token"],
)
def test_sigv4_refuses_unsigned_or_badly_signed(neptune_emulator_sigv4, auth):
    response = requests.get(f"{neptune_emulator_sigv4.url}/loader", auth=auth, timeout=30)
    assert response.status_code == 403
    assert response.json()["code"] == "AccessDeniedException"


def test_sigv4_refuses_a_tampered_body(neptune_emulator_sigv4, s3_source):
    auth = _auth()
    prepared = requests.Request(
        "POST", f"{neptune_emulator_sigv4.url}/loader", json=load_body(s3_source({"a.nt": NT})), auth=auth
    ).prepare()
    prepared.body = prepared.body.replace(b"ntriples", b"turtle\x20\x20")
    prepared.headers["Content-Length"] = str(len(prepared.body))
    response = requests.Session().send(prepared, timeout=30)
    assert response.status_code == 403
    assert "x-amz-content-sha256" in response.json()["detailedMessage"]


def test_blank_and_comment_lines_are_not_records(neptune_emulator, s3_source):
    text = f"# exported by a test\n\n{NT}  # an indented comment\n\t\n"
    load_id = post(neptune_emulator, load_body(s3_source({"a.nt": text}))).json()["payload"]["loadId"]
    overall = neptune_emulator.wait_for_load(load_id)["overallStatus"]
    assert (overall["status"], overall["totalRecords"], overall["parsingErrors"]) == ("LOAD_COMPLETED", 3, 0)
    assert count(neptune_emulator) == 3


@pytest.mark.parametrize("mode", ["after", "drop"])
def test_faults_after_the_work_is_done(neptune_emulator, s3_source, mode):
    """ "after" answers an error and "drop" closes the connection, once the request has been carried out."""
    source = s3_source({"a.nt": NT})
    neptune_emulator.control("faults", {"status": 503, "count": 1, "mode": mode})
    if mode == "after":
        answer = post(neptune_emulator, load_body(source))
        assert answer.status_code == 503 and answer.json()["code"] == "ServiceUnavailableException"
    else:
        with pytest.raises(requests.ConnectionError):
            post(neptune_emulator, load_body(source))
    [load_id] = neptune_emulator.list_load_ids()  # the load was started all the same
    assert neptune_emulator.wait_for_load(load_id)["overallStatus"]["status"] == "LOAD_COMPLETED"


def test_fault_match_and_slow_answers(neptune_emulator, s3_source):
    source = s3_source({"a.nt": NT})
    neptune_emulator.control("faults", {"status": 500, "count": 1, "match": source})
    assert requests.get(f"{neptune_emulator.url}/status", timeout=30).status_code == 200  # does not match
    assert post(neptune_emulator, load_body(source)).status_code == 500  # matches: refused, nothing done
    assert neptune_emulator.list_load_ids() == []
    neptune_emulator.control("slow-answers", {"seconds": 2, "count": 1})
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{neptune_emulator.url}/status", timeout=0.5)
    assert requests.get(f"{neptune_emulator.url}/status", timeout=30).status_code == 200
    for bad in ({"seconds": -1}, {"seconds": 1, "count": "x"}):
        answer = requests.post(f"{neptune_emulator.url}/_emulator/slow-answers", json=bad, timeout=30)
        assert answer.status_code == 400
    answer = requests.post(
        f"{neptune_emulator.url}/_emulator/faults", json={"status": 500, "mode": "sometimes"}, timeout=30
    )
    assert answer.status_code == 400 and "mode" in answer.json()["detailedMessage"]
