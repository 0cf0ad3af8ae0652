"""`rdfox-pipeline sample generate` + `rdfox-pipeline reason` + `rdfox-pipeline log parse`, as processes.

Also the reasoner's own command line as the pod's RDFox wrapper calls it
(``RDFox sandbox /data "exec /scripts/job.rdfox" > /output/rdfox.log``), with the pod paths mapped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rdfox_pipeline.pod.script import generate_rdfox_script

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "include" / "samples"
CLI = [sys.executable, "-m", "rdfox_pipeline.cli.main"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No RDFox license anywhere: the local engine runs (CI has none either)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RDFOX_")}
    clean["HOME"] = str(tmp_path / "home")
    return clean


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.fixture
def dataset(tmp_path: Path, env: dict[str, str]) -> Path:
    directory = tmp_path / "dataset"
    done = cli(
        [
            "sample",
            "generate",
            str(directory / "parts"),
            "--transactions",
            "300",
            "--parties",
            "60",
            "--seed",
            "11",
            "--suspicious-share",
            "0.1",
            "--files",
            "2",
        ],
        env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(directory / "parts" / f"part-000{i}.nt") for i in (1, 2)]
    for sample in SAMPLES.iterdir():
        if sample.suffix in (".dlog", ".rq"):
            shutil.copy(sample, directory / sample.name)
    (directory / "README.txt").write_text("ignored\n", encoding="utf-8")
    return directory


def test_reason_writes_answers_and_a_log_that_log_parse_reads(
    dataset: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    out = tmp_path / "out"
    done = cli(["reason", str(dataset), "--out", str(out)], env)
    assert done.returncode == 0, done.stderr
    answers = sorted((out / "data").glob("*.rq.nt"))
    assert [p.name for p in answers] == ["extract1.rq.nt", "extract2.rq.nt", "extract3.rq.nt"]
    assert done.stdout.split() == [*map(str, answers), str(out / "rdfox.log")]

    parsed = cli(["log", "parse", str(out / "rdfox.log")], env)
    assert parsed.returncode == 0, parsed.stderr
    stats = json.loads(parsed.stdout)
    # The log's answer counts are the files' line counts; the counts section names the three count queries.
    assert stats["query_answers"] == {
        p.name.removesuffix(".nt"): len(p.read_text(encoding="utf-8").splitlines()) for p in answers
    }
    assert set(stats["counts"]) == {"partialChainCount", "fullChainCount", "highValueChainCount"}
    assert stats["counts"]["fullChainCount"] > 0
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in (dataset / "parts").glob("*.nt"))
    assert stats["triples_input_amount"] == lines  # the generator writes no duplicate triples
    assert stats["triples_materialised_amount"] > 0

    # The same run with naive evaluation gives the same answers.
    naive = tmp_path / "naive"
    assert (
        cli(["reason", str(dataset), "--out", str(naive), "--naive", "--engine", "local"], env).returncode
        == 0
    )
    for answer in answers:
        assert sorted((naive / "data" / answer.name).read_text().splitlines()) == sorted(
            answer.read_text().splitlines()
        )
    assert "Evaluation: naive" in (naive / "rdfox.log").read_text()


def test_reason_refuses_bad_input_with_one_line(dataset: Path, tmp_path: Path, env: dict[str, str]) -> None:
    missing = cli(["reason", str(tmp_path / "nope"), "--out", str(tmp_path / "o1")], env)
    assert missing.returncode == 2 and missing.stderr.strip().endswith("nope: not a directory")

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "rules.dlog").write_text("", encoding="utf-8")
    no_data = cli(["reason", str(empty), "--out", str(tmp_path / "o2")], env)
    assert no_data.returncode == 2 and "no data files" in no_data.stderr

    inside = cli(["reason", str(dataset), "--out", str(dataset / "out")], env)
    assert inside.returncode == 2 and "must not be inside" in inside.stderr

    no_license = cli(["reason", str(dataset), "--out", str(tmp_path / "o3"), "--engine", "rdfox"], env)
    assert no_license.returncode == 2 and "needs a license" in no_license.stderr

    (dataset / "zz-bad.dlog").write_text(
        "PREFIX ex: <http://ex/>\nex:q[?x] :- ex:p(?x) .\n", encoding="utf-8"
    )
    bad = cli(["reason", str(dataset), "--out", str(tmp_path / "o4")], env)
    assert bad.returncode == 2
    assert "reasoning failed (exit 1)" in bad.stderr and "/data/zz-bad.dlog:2:" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    log_parse = cli(["log", "parse", str(tmp_path / "o4" / "rdfox.log")], env)
    assert log_parse.returncode == 2  # a failed run's log is never read as a run with zero facts


def test_sample_generate_refuses_bad_options(tmp_path: Path, env: dict[str, str]) -> None:
    done = cli(["sample", "generate", str(tmp_path / "s"), "--parties", "1"], env)
    assert done.returncode == 2 and "parties must be >= 2" in done.stderr
    (tmp_path / "file").write_text("x", encoding="utf-8")
    done = cli(["sample", "generate", str(tmp_path / "file")], env)
    assert done.returncode == 2 and "not a directory" in done.stderr


def test_the_reasoner_runs_as_the_pods_rdfox_command(
    dataset: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    scripts, output = tmp_path / "scripts", tmp_path / "output"
    (output / "data").mkdir(parents=True)
    scripts.mkdir()
    keys = sorted(
        p.relative_to(dataset).as_posix() for p in dataset.rglob("*") if p.suffix in (".nt", ".dlog")
    )
    (scripts / "job.rdfox").write_text(
        generate_rdfox_script(
            rule_files=[k for k in keys if k.endswith(".dlog")],
            data_files=[k for k in keys if k.endswith(".nt")],
            query_files=["extract1.rq"],
            count_query_files=["fullchains.count.rq"],
        ),
        encoding="utf-8",
    )
    env["RDFOX_LOCAL_PATH_MAP"] = json.dumps(
        {"/data": str(dataset), "/scripts": str(scripts), "/output": str(output)}
    )
    log_path = output / "rdfox.log"
    with log_path.open("w") as log:
        status = subprocess.run(
            [sys.executable, "-m", "rdfox_local.reasoner", "sandbox", "/data", "exec /scripts/job.rdfox"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=300,
            check=False,
        ).returncode
    assert status == 0, log_path.read_text()
    stats = json.loads(cli(["log", "parse", str(log_path)], env).stdout)
    answers = (output / "data" / "extract1.rq.nt").read_text().splitlines()
    assert stats["query_answers"] == {"extract1.rq": len(answers)} and answers
