"""The MWAA bundle: built by `make mwaa-bundle`'s module, then used the way MWAA uses it.

MWAA installs requirements.txt under the constraints file its first line names (shipped in the bundle's
dags/) into an environment that has Airflow, unpacks plugins.zip into its plugins folder (on sys.path) and
parses dags/. The tests marked ``mwaa`` (run by `make test-compat`, under the bundle's Airflow and Python)
do the same: a clean venv of MWAA's Python with ``apache-airflow==<MWAA's version>`` and the bundle's
requirements under the bundle's constraints, nothing else (not this project, not its dev tools); then a
whole job on the local stack, with the DAG and the plugin taken from the bundle.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from rdfox_local import mwaa_bundle

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "rdfox_neptune_pipeline"


def test_constraint_line_names_the_shipped_constraints_where_mwaa_puts_them() -> None:
    assert mwaa_bundle.constraint_line() == (
        '--constraint "/usr/local/airflow/dags/rdfox-pipeline-constraints.txt"'
    )


def test_the_target_is_an_airflow_version_mwaa_offers() -> None:
    """botocore's own MWAA model lists the valid AirflowVersion values (CreateEnvironment's docs)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("mwaa")
    documentation = (
        model.operation_model("CreateEnvironment").input_shape.members["AirflowVersion"].documentation
    )
    offered = re.findall(r"<code>(\d+\.\d+\.\d+)</code>", documentation)
    assert mwaa_bundle.MWAA_AIRFLOW_VERSION in offered, offered


def test_committed_constraints_install_mwaa_airflow_and_our_requirements() -> None:
    """The constraints for the default target pin MWAA's Airflow and satisfy pyproject's requirements."""
    requirements = mwaa_bundle.bundle_requirements(REPO_ROOT)
    path = mwaa_bundle.checked_constraints(
        REPO_ROOT, mwaa_bundle.MWAA_AIRFLOW_VERSION, mwaa_bundle.MWAA_PYTHON_VERSION, requirements
    )
    pins = mwaa_bundle.read_pins(path)
    assert pins["apache-airflow"] == mwaa_bundle.MWAA_AIRFLOW_VERSION == "3.0.6"
    assert mwaa_bundle.MWAA_PYTHON_VERSION == "3.12"
    # Providers newer than Airflow 3.0.6's own constraints (amazon 9.12): the reason the file exists.
    from packaging.version import Version

    assert Version(pins["apache-airflow-providers-amazon"]) >= Version("9.20")


def test_stale_or_missing_constraints_are_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    repo = tmp_path / "repo"
    for name in ("plugins", "dags"):
        shutil.copytree(REPO_ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "pyproject.toml", repo / "pyproject.toml")
    out = tmp_path / "out"
    assert mwaa_bundle.main([str(out), "--repo", str(repo), "--airflow-version", "3.0.6"]) == 2
    assert "make mwaa-constraints MWAA_AIRFLOW=3.0.6 MWAA_PYTHON=3.12" in capsys.readouterr().err
    constraints = mwaa_bundle.constraints_path(repo, "3.0.6", "3.12")
    constraints.parent.mkdir(parents=True)
    text = mwaa_bundle.constraints_path(REPO_ROOT, "3.0.6", "3.12").read_text()
    constraints.write_text(
        re.sub(r"(?m)^apache-airflow-providers-amazon==.*$", "apache-airflow-providers-amazon==9.12.0", text)
    )
    assert mwaa_bundle.main([str(out), "--repo", str(repo)]) == 2
    assert "pins apache-airflow-providers-amazon 9.12.0, which does not satisfy" in capsys.readouterr().err
    assert not out.exists()


def test_import_scan_maps_modules_to_distributions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import json\nimport requests_aws4auth\n"
        "from airflow.providers.cncf.kubernetes.operators.pod import X\n"
        "from . import sibling\nfrom rdfox_pipeline.domain import jobspec\nimport airflow.sdk\n"
    )
    modules = mwaa_bundle.imported_modules([source])
    assert "json" in modules and "sibling" not in modules
    mapped = mwaa_bundle.module_distributions(modules)
    assert mapped == {
        "requests_aws4auth": "requests-aws4auth",
        "airflow.providers.cncf.kubernetes.operators.pod": "apache-airflow-providers-cncf-kubernetes",
        "airflow.sdk": "apache-airflow",
    }
    source.write_text("import no_such_module_anywhere\n")
    with pytest.raises(LookupError, match="no_such_module_anywhere"):
        mwaa_bundle.module_distributions(mwaa_bundle.imported_modules([source]))


def test_closure_follows_extras() -> None:
    plain = mwaa_bundle.dependency_closure(["apache-airflow-providers-amazon"])
    with_extra = mwaa_bundle.dependency_closure(
        ["apache-airflow-providers-amazon"], {"apache-airflow-providers-amazon": {"aiobotocore"}}
    )
    assert "boto3" in plain
    assert "aiobotocore" in with_extra


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO_ROOT / "dags" / f"{DAG_ID}.py").is_file():
        pytest.skip("the DAG file has not landed yet")
    out = tmp_path_factory.mktemp("mwaa") / "bundle"
    (out / "stale.txt").parent.mkdir(parents=True)
    (out / "stale.txt").write_text("left from an old build")
    assert mwaa_bundle.main([str(out), "--repo", str(REPO_ROOT)]) == 0
    return out


def test_bundle_layout(bundle: Path) -> None:
    assert sorted(p.name for p in bundle.iterdir()) == ["dags", "plugins.zip", "requirements.txt"]
    assert sorted(p.name for p in (bundle / "dags").iterdir()) == [
        mwaa_bundle.CONSTRAINTS_NAME,
        f"{DAG_ID}.py",
    ]
    assert (bundle / "dags" / mwaa_bundle.CONSTRAINTS_NAME).read_bytes() == mwaa_bundle.constraints_path(
        REPO_ROOT, mwaa_bundle.MWAA_AIRFLOW_VERSION, mwaa_bundle.MWAA_PYTHON_VERSION
    ).read_bytes()
    assert (bundle / "dags" / f"{DAG_ID}.py").read_bytes() == (
        REPO_ROOT / "dags" / f"{DAG_ID}.py"
    ).read_bytes()
    assert not list(bundle.rglob("__pycache__"))
    with zipfile.ZipFile(bundle / "plugins.zip") as archive:
        names = archive.namelist()
        assert archive.testzip() is None
    assert "rdfox_pipeline/__init__.py" in names
    assert all(n.startswith("rdfox_pipeline/") for n in names), "only the package, at the archive's root"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    shipped = {
        p.relative_to(REPO_ROOT / "plugins").as_posix()
        for p in mwaa_bundle._shipped((REPO_ROOT / "plugins" / "rdfox_pipeline").rglob("*"), REPO_ROOT)
    }
    assert set(names) == shipped


def test_requirements_file(bundle: Path) -> None:
    lines = (bundle / "requirements.txt").read_text().splitlines()
    assert lines[0] == mwaa_bundle.constraint_line()
    names = [line.split("[")[0].split(">")[0].split("=")[0].split("<")[0] for line in lines[1:]]
    # What the plugin imports and MWAA's Airflow does not bring, from pyproject.toml's declarations.
    assert "requests-aws4auth" in names
    assert "apache-airflow-providers-cncf-kubernetes" in names
    assert "apache-airflow" not in names  # MWAA provides it; listing it could move it
    assert not {"pytest", "moto", "ruff"} & set(names)  # no dev tools
    assert "pyoxigraph" not in names  # only the local emulators use it, never the plugin


def test_build_is_reproducible(bundle: Path, tmp_path: Path) -> None:
    # From a snapshot of the sources (the working tree may change meanwhile), built twice at different times.
    import shutil
    import time

    repo = tmp_path / "repo"
    for name in ("plugins", "dags"):
        shutil.copytree(REPO_ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "pyproject.toml", repo / "pyproject.toml")
    shutil.copytree(REPO_ROOT / "deploy" / "mwaa", repo / "deploy" / "mwaa")
    mwaa_bundle.build_bundle(tmp_path / "one", repo)
    time.sleep(1.1)  # zip timestamps have a 2 s resolution: a real clock would show here
    mwaa_bundle.build_bundle(tmp_path / "two", repo)
    assert (tmp_path / "one" / "plugins.zip").read_bytes() == (tmp_path / "two" / "plugins.zip").read_bytes()


def test_main_reports_a_bad_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mwaa_bundle.main([str(tmp_path / "out"), "--repo", str(tmp_path)]) == 2
    assert "is not a package" in capsys.readouterr().err


def test_startup_script_only_when_a_jobspec_queue_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (REPO_ROOT / "dags" / f"{DAG_ID}.py").is_file():
        pytest.skip("the DAG file has not landed yet")
    url = "https://sqs.eu-west-2.amazonaws.com/111122223333/rdfox-pipeline-jobspecs"
    out = tmp_path / "bundle"
    assert mwaa_bundle.main([str(out), "--repo", str(REPO_ROOT), "--jobspec-queue-url", url]) == 0
    script = (out / "startup.sh").read_text()
    # What MWAA does with it: sources it; the DAG then finds its asset watcher's queue.
    env = subprocess.run(
        ["/bin/sh", "-c", f". {out / 'startup.sh'} && printenv RDFOX_PIPELINE_JOBSPEC_QUEUE_URL"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert env.stdout.strip() == url
    assert script.startswith("#!/bin/sh\n")
    dag_text = (REPO_ROOT / "dags" / f"{DAG_ID}.py").read_text()
    env_name = re.search(r'^JOBSPEC_QUEUE_ENV = "([A-Z_]+)"', dag_text, re.M)
    assert env_name and f"export {env_name.group(1)}=" in script
    # Anything but an SQS queue URL (e.g. shell syntax) is refused before a file is written.
    bad = "https://sqs.eu-west-2.amazonaws.com/111122223333/q'; rm -rf /; '"
    assert mwaa_bundle.main([str(tmp_path / "b2"), "--repo", str(REPO_ROOT), "--jobspec-queue-url", bad]) == 2
    assert "not an SQS queue URL" in capsys.readouterr().err
    assert not (tmp_path / "b2").exists()


def _clean_env(**extra: str) -> dict[str, str]:
    keep = (
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "UV_CACHE_DIR",
        "UV_INDEX_URL",
        "UV_DEFAULT_INDEX",
        "PIP_INDEX_URL",
        "UV_EXTRA_INDEX_URL",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
    )
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(extra)
    return env


def _mwaa_python() -> str:
    """MWAA's Python: this tier's own interpreter (make test-compat builds its venv on it)."""
    running = "{}.{}".format(*sys.version_info[:2])
    assert running == mwaa_bundle.MWAA_PYTHON_VERSION, f"Python {running}: run it with make test-compat"
    return sys.executable


@pytest.mark.mwaa
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bundle_installs_and_the_dag_imports_in_a_clean_venv(bundle: Path, tmp_path: Path) -> None:
    uv = Path(sys.executable).with_name("uv")
    venv = tmp_path / "venv"
    subprocess.run(
        [str(uv), "venv", "-q", "--python", _mwaa_python(), str(venv)], check=True, env=_clean_env()
    )
    python = venv / "bin" / "python"

    lines = (bundle / "requirements.txt").read_text().splitlines()
    # What MWAA does: its Airflow, then requirements.txt under the constraints its first line names.
    constraint = re.fullmatch(r'--constraint "(/usr/local/airflow/dags)/(.+)"', lines[0])
    assert constraint, lines[0]
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "\n".join([f"apache-airflow=={mwaa_bundle.MWAA_AIRFLOW_VERSION}", *lines[1:]]) + "\n"
    )
    install = subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "-r",
            str(requirements),
            "--constraint",
            str(bundle / "dags" / constraint.group(2)),
        ],
        capture_output=True,
        text=True,
        env=_clean_env(),
    )
    assert install.returncode == 0, install.stderr[-3000:]
    version = subprocess.run(
        [str(python), "-c", "import sys, airflow; print(airflow.__version__, *sys.version_info[:2])"],
        capture_output=True, text=True, check=True, env=_clean_env(), cwd=tmp_path,
    ).stdout.split()  # fmt: skip
    assert version == [mwaa_bundle.MWAA_AIRFLOW_VERSION, *mwaa_bundle.MWAA_PYTHON_VERSION.split(".")]

    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(bundle / "plugins.zip") as archive:
        archive.extractall(plugins)
    home = tmp_path / "airflow-home"
    env = _clean_env(
        PYTHONPATH=str(plugins),  # what MWAA does with the unpacked plugins.zip
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(bundle / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AWS_DEFAULT_REGION="eu-west-2",
        # The first import in a fresh venv compiles every module's bytecode; on a busy 2-core CI machine
        # that can pass Airflow's default 30 s per-file import timeout, reported then as a DAG error.
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="240",
    )
    script = f"""
import importlib.util, json, sys
import rdfox_pipeline
assert rdfox_pipeline.__file__.startswith({str(plugins)!r}), rdfox_pipeline.__file__
assert importlib.util.find_spec("rdfox_local") is None, "the bundle must not need the local stack"
from rdfox_pipeline.compat import dag_bag_class, loaded_plugins
bag = dag_bag_class()(dag_folder={str(bundle / "dags")!r})
plugins, plugin_errors = loaded_plugins()
print(json.dumps({{"dags": sorted(bag.dag_ids), "errors": bag.import_errors,
                   "plugins": [p.name for p in plugins], "plugin_errors": plugin_errors}}))
"""
    # cwd outside the checkout: the repo root holds rdfox_pipeline.egg-info, whose entry point would register
    # the plugin a second time (python -c puts the current directory on sys.path).
    run = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-4000:]
    import json

    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert DAG_ID in result["dags"]
    assert result["plugin_errors"] == {}


@pytest.mark.mwaa
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_bundle_runs_a_whole_job_on_the_local_stack(bundle: Path, tmp_path: Path) -> None:
    """Under MWAA's Airflow (this tier's interpreter), the bundle's DAG and plugin run one job end to end."""
    import airflow

    assert airflow.__version__ == mwaa_bundle.MWAA_AIRFLOW_VERSION, "run it with make test-compat"
    from rdfox_local.stack.demo import Demo
    from rdfox_local.stack.stack import LocalStack

    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(bundle / "plugins.zip") as archive:
        archive.extractall(plugins)
    stack = LocalStack(tmp_path / "stack")
    state = stack.up(log=lambda _msg: None)
    try:
        demo = Demo(
            stack,
            state,
            transactions=500,
            log=lambda _msg: None,
            # As MWAA: the unpacked plugins.zip first on sys.path, the bundle's dags/ parsed.
            airflow_env={
                "AIRFLOW__CORE__DAGS_FOLDER": str(bundle / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
                "PYTHONPATH": str(plugins),
            },
        )
        result = demo.run(tmp_path / "work")
        log = "\n".join(p.read_text(errors="replace") for p in stack.log_dir.glob("demo-*.airflow.log"))
    finally:
        stack.down(log=lambda _msg: None)
    assert result.status == "SUCCESS_NOTIFICATION_SENT", (result, log[-6000:])
    assert result.loaded_triples and result.loaded_triples > 0
    assert f"Filling up the DagBag from {bundle / 'dags'}" in log or str(bundle / "dags") in log


def test_constraints_inputs_pin_the_providers_the_suite_runs_with() -> None:
    """What `make mwaa-constraints` resolves: MWAA's Airflow, and the bundle's requirements with each provider
    pinned to the version installed here (the one the tests ran with), extras kept."""
    import importlib.metadata

    from rdfox_local import mwaa_constraints

    inputs = mwaa_constraints.pinned_inputs(REPO_ROOT, "3.0.6")
    assert inputs[0] == "apache-airflow==3.0.6"
    amazon = importlib.metadata.version("apache-airflow-providers-amazon")
    assert f"apache-airflow-providers-amazon[aiobotocore]=={amazon}" in inputs
    assert any(line.startswith("requests-aws4auth>=") for line in inputs)  # not a provider: its range
    # One input per requirement of the bundle, plus Airflow itself.
    assert len(inputs) == 1 + len(mwaa_bundle.bundle_requirements(REPO_ROOT))
