"""The real-RDFox path: finding a license and the executable, and running it with the pod paths mapped.

Without a license the launcher is exercised with a stand-in ``RDFox`` executable (a script that records its
command line and then runs the local reasoner, with no path map of its own): what it receives must work on
local paths alone. The test marked ``rdfox`` runs the real RDFox and skips cleanly when there is no license.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from rdfox_local.reasoner import rdfox_launcher
from rdfox_local.reasoner.pathmap import PathMap

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "rdfox_pipeline.cli.main"]


def test_find_license_prefers_content_then_file_then_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert rdfox_launcher.find_license({"HOME": str(home)}) is None
    assert rdfox_launcher.find_license({"HOME": str(home), "RDFOX_LICENSE_CONTENT": "  "}) is None
    lic = tmp_path / "RDFox.lic"
    lic.write_text("license", encoding="utf-8")
    assert rdfox_launcher.find_license({"HOME": str(home), "RDFOX_LICENSE_FILE": str(lic)}) == (
        "file",
        str(lic),
    )
    missing = {"HOME": str(home), "RDFOX_LICENSE_FILE": str(tmp_path / "missing.lic")}
    assert rdfox_launcher.find_license(missing) is None
    (home / ".RDFox").mkdir(parents=True)
    (home / ".RDFox" / "RDFox.lic").write_text("license", encoding="utf-8")
    assert rdfox_launcher.find_license({"HOME": str(home)}) == ("file", str(home / ".RDFox" / "RDFox.lic"))
    both = {"HOME": str(home), "RDFOX_LICENSE_CONTENT": "text", "RDFOX_LICENSE_FILE": str(lic)}
    assert rdfox_launcher.find_license(both) == ("content", "text")


def test_rewrite_paths_maps_quoted_paths_and_exec_targets() -> None:
    mapping = PathMap({"/data": "/tmp/d", "/output": "/tmp/o"})
    script = 'import "/data/a.nt"\nset output "/output/data/q.rq.nt"\nexec /data/more.rdfox\necho "/etc/x"\n'
    assert rdfox_launcher.rewrite_paths(script, mapping) == (
        'import "/tmp/d/a.nt"\nset output "/tmp/o/data/q.rq.nt"\nexec /tmp/d/more.rdfox\necho "/etc/x"\n'
    )


@pytest.fixture
def fake_rdfox(tmp_path: Path) -> Path:
    """An executable named RDFox: records its argv, then runs the local reasoner without any path map."""
    record = tmp_path / "argv.json"
    path = tmp_path / "bin" / "RDFox"
    path.parent.mkdir()
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], "
        "'license_file': os.environ.get('RDFOX_LICENSE_FILE')}))\n"
        "os.environ.pop('RDFOX_LOCAL_PATH_MAP', None)\n"
        "from rdfox_local.reasoner.__main__ import main\n"
        "sys.exit(main(['--engine', 'local', *sys.argv[1:]]))\n",
        encoding="utf-8",
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_executable_honours_rdfox_executable(fake_rdfox: Path, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "", "RDFOX_EXECUTABLE": str(fake_rdfox)}
    assert rdfox_launcher.find_executable(env) == str(fake_rdfox)
    assert not rdfox_launcher.real_rdfox_available(env)  # no license yet
    assert rdfox_launcher.real_rdfox_available({**env, "RDFOX_LICENSE_CONTENT": "x"})
    assert rdfox_launcher.find_executable({**env, "RDFOX_EXECUTABLE": str(tmp_path / "nope")}) is None


def _dataset(tmp_path: Path) -> Path:
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "rules.dlog").write_text(
        "PREFIX ex: <http://ex/>\nex:tc[?x, ?y] :- ex:e[?x, ?y] .\n"
        "ex:tc[?x, ?z] :- ex:tc[?x, ?y], ex:e[?y, ?z] .\n",
        encoding="utf-8",
    )
    (data / "edges.nt").write_text(
        "".join(f"<http://ex/n{i}> <http://ex/e> <http://ex/n{i + 1}> .\n" for i in range(4)),
        encoding="utf-8",
    )
    (data / "tc.rq").write_text("CONSTRUCT { ?x <http://ex/tc> ?y } WHERE { ?x <http://ex/tc> ?y }\n")
    (data / "tc.count.rq").write_text("SELECT (COUNT(*) AS ?tcCount) WHERE { ?x <http://ex/tc> ?y }\n")
    return data


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RDFOX_")}
    env["HOME"] = str(tmp_path / "home")
    env.update(extra)
    return env


def test_a_licensed_run_goes_to_rdfox_with_local_paths(fake_rdfox: Path, tmp_path: Path) -> None:
    lic = tmp_path / "RDFox.lic"
    lic.write_text("license", encoding="utf-8")
    env = _env(tmp_path, RDFOX_EXECUTABLE=str(fake_rdfox), RDFOX_LICENSE_FILE=str(lic))
    data, out = _dataset(tmp_path), tmp_path / "out"
    done = subprocess.run(
        [*CLI, "reason", str(data), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "argv.json").read_text())
    assert record["license_file"] == str(lic)
    assert record["argv"][:2] == ["sandbox", str(data)]  # the pod root /data, mapped
    exec_command = record["argv"][2]
    assert exec_command.startswith("exec /") and "/scripts/" not in exec_command  # a rewritten copy
    assert len((out / "data" / "tc.rq.nt").read_text().splitlines()) == 10  # 5 nodes in a path: 4+3+2+1
    stats = json.loads(
        subprocess.run(
            [*CLI, "log", "parse", str(out / "rdfox.log")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout
    )
    assert stats["counts"] == {"tcCount": 10} and stats["query_answers"] == {"tc.rq": 10}


def _real_rdfox() -> tuple[str, dict[str, str]] | None:
    env = dict(os.environ)
    if rdfox_launcher.find_license(env) is None:
        return None
    executable = rdfox_launcher.find_executable(env)
    return (executable, env) if executable else None


@pytest.mark.rdfox
def test_real_rdfox_gives_the_local_reasoners_answers(tmp_path: Path) -> None:
    found = _real_rdfox()
    if found is None:
        pytest.skip("no RDFox license (RDFOX_LICENSE_CONTENT / RDFOX_LICENSE_FILE) or RDFox executable")
    _, env = found
    data = _dataset(tmp_path)
    for sample in (REPO / "include" / "samples").glob("*.dlog"):
        shutil.copy(sample, data / sample.name)
    outputs = {}
    for engine in ("rdfox", "local"):
        out = tmp_path / engine
        done = subprocess.run(
            [*CLI, "reason", str(data), "--out", str(out), "--engine", engine],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr + (out / "rdfox.log").read_text(errors="replace")
        outputs[engine] = sorted((out / "data" / "tc.rq.nt").read_text().splitlines())
        parsed = subprocess.run(
            [*CLI, "log", "parse", str(out / "rdfox.log")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert parsed.returncode == 0, parsed.stderr
    assert outputs["rdfox"] == outputs["local"]


@pytest.mark.rdfox
def test_real_rdfox_answers_the_legacy_sample_as_the_local_reasoner(tmp_path: Path) -> None:
    """Old-style rules and SELECT ?S ?P ?O queries: RDFox gets them as the pod does (prepare's CONSTRUCT
    rewrite), the local reasoner as written; both must give the same N-Triples and running counts."""
    from rdfox_local.steps.prepare import rewrite_triple_selects

    found = _real_rdfox()
    if found is None:
        pytest.skip("no RDFox license (RDFOX_LICENSE_CONTENT / RDFOX_LICENSE_FILE) or RDFox executable")
    _, env = found
    sample = REPO / "include" / "samples" / "legacy-style"
    outputs, logs = {}, {}
    for engine in ("rdfox", "local"):
        data = tmp_path / f"{engine}-data"
        shutil.copytree(sample, data)
        if engine == "rdfox":
            assert rewrite_triple_selects(data, ["fullchains.rq", "suspicious.rq"])
        out = tmp_path / engine
        done = subprocess.run(
            [*CLI, "reason", str(data), "--out", str(out), "--engine", engine],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr + (out / "rdfox.log").read_text(errors="replace")
        outputs[engine] = {p.name: set(p.read_text().splitlines()) for p in (out / "data").glob("*.nt")}
        parsed = subprocess.run(
            [*CLI, "log", "parse", str(out / "rdfox.log")],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert parsed.returncode == 0, parsed.stderr
        logs[engine] = json.loads(parsed.stdout)["counts"]
    assert outputs["rdfox"] == outputs["local"]
    assert logs["rdfox"] == logs["local"]
