"""Pipeline settings: one definition per setting, strict parsing, and the precedence
jobspec overrides > SSM (``/parameter/pipeline_control/``) > environment > default.

Pure: `resolve_settings` reads nothing itself; `aws/settings_loader.py` fetches SSM and the environment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from rdfox_pipeline.domain import validators as v
from rdfox_pipeline.domain.prefixes import DEFAULT_PREFIXES, parse_prefixes
from rdfox_pipeline.domain.subject_template import parse_subject_template

SSM_PATH = "/parameter/pipeline_control/"


class SettingsError(ValueError):
    """A setting has a bad value; ``str()`` is one line ``"<SETTING_NAME>: <what is wrong>"``."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


# --- value parsers: accept the text form (SSM / environment) and the JSON form (jobspec overrides) ----------
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"expected a boolean (true/false/yes/no/1/0), got {value!r}")
    raise ValueError(f"expected a boolean, got {v.json_type_name(value)}")


def _int_parser(low: int, high: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"expected an integer, got {v.json_type_name(value)}")
        if isinstance(value, str):
            text = value.strip()
            if not text.lstrip("-").isdigit() or not text.isascii():
                raise ValueError(f"expected an integer, got {value!r}")
            value = int(text)
        return v.check_int_range(value, low, high)

    return parse


def _str_parser(check: Callable[[str], str] | None = None) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {v.json_type_name(value)}")
        text = value.strip()
        if not text:
            raise ValueError("must not be empty")
        return check(text) if check else text

    return parse


def _choice_parser(choices: Sequence[str]) -> Callable[[object], str]:
    return _str_parser(lambda text: v.check_choice(text, choices))


def parse_json_object(value: object) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object, got {v.json_type_name(value)}")
    return dict(value)


def parse_parser_configuration(value: object) -> dict[str, Any]:
    return v.check_parser_configuration(parse_json_object(value))


def parse_registry_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(i, str) for i in value):
        items = list(value)
    else:
        raise ValueError(
            f"expected a comma-separated list of registry prefixes, got {v.json_type_name(value)}"
        )
    out = tuple(i.strip() for i in items if i.strip())
    for item in out:
        if any(ch.isspace() or not ch.isprintable() for ch in item):
            raise ValueError(f"registry prefix {item!r} must not contain spaces or control characters")
    return out


def parse_delimiter(value: object) -> str:
    # Not stripped: the delimiter is taken literally, but it must not be something a dataset or date contains.
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {v.json_type_name(value)}")
    if not 1 <= len(value) <= 3:
        raise ValueError(f"must be 1 to 3 characters, got {value!r}")
    if any(
        ch.isalnum() or ch.isspace() or not ch.isascii() or not ch.isprintable() or ch in "/-."
        for ch in value
    ):
        raise ValueError(f"{value!r} must be printable ASCII punctuation other than '/', '-' and '.'")
    return value


def parse_storage(value: object) -> str:
    """A Kubernetes storage quantity (``20Gi``), at least 1Mi."""
    text = _text(value)
    try:
        size = v.quantity_bytes(text)
    except ValueError:
        raise ValueError(f"expected a Kubernetes quantity such as 20Gi, got {text!r}") from None
    if size < 2**20:
        raise ValueError(f"must be at least 1Mi, got {text!r}")
    return text


def _checked_str(check: Callable[..., str], *args: Any) -> Callable[[object], str]:
    return _str_parser(lambda text: check(text, *args))


@dataclass(frozen=True)
class SettingDefinition:
    name: str
    default: Any
    parse: Callable[[object], Any]
    description: str
    # Settings a jobspec may not change: they protect the system (allow-list) or must be the same for all
    # jobs (ids, table, cluster).
    job_overridable: bool = True

    @property
    def attribute(self) -> str:
        return self.name.lower()

    def coerce(self, value: object) -> Any:
        """Parse one value of this setting; SettingsError names the setting."""
        try:
            return self.parse(value)
        except ValueError as exc:
            raise SettingsError(self.name, str(exc)) from None


def _defs(*items: SettingDefinition) -> dict[str, SettingDefinition]:
    return {item.name: item for item in items}


_text = _str_parser()
# Default images are fully qualified, never Docker Hub short names (which a runtime may resolve on Docker Hub
# or on any "unqualified search" registry). The step images are this project's own and are published
# nowhere: ``registry.invalid`` (RFC 6761: never resolves) makes a deployment that forgot PREPARE_IMAGE /
# PUBLISH_IMAGE fail to pull, instead of pulling whatever someone pushed as ``rdfox-pipeline/prepare`` on
# Docker Hub. RDFox's is the vendor's own image, named with its registry.
DEFAULT_PREPARE_IMAGE = "registry.invalid/rdfox-pipeline/prepare:0.1.0"
DEFAULT_RDFOX_IMAGE = "docker.io/oxfordsemantic/rdfox:7.1.1"
DEFAULT_PUBLISH_IMAGE = "registry.invalid/rdfox-pipeline/publish:0.1.0"


def _parse_allowed_fields(value: object) -> dict[str, list[Any]]:
    # Imported here: the policy module imports the jobspec model, which imports this module.
    from rdfox_pipeline.domain.jobspec_policy import parse_allowed_fields

    return parse_allowed_fields(parse_json_object(value))


def _memory_cap(value: object) -> str:
    return _str_parser(v.check_memory)(value)


SETTINGS: Mapping[str, SettingDefinition] = _defs(
    SettingDefinition("CLUSTER_NAME", None, _text, "EKS cluster that runs the RDFox pods", False),
    SettingDefinition("JOB_TABLE_NAME", "rdfox-pipeline-jobs", _text, "DynamoDB table of job records", False),
    SettingDefinition(
        "JOBSPEC_NAME", "rdfoxjob.json", _text, "suffix of jobspec files in the input prefix", False
    ),
    SettingDefinition("RDFOXLOG_NAME", "rdfox.log", _text, "name of the RDFox log in the output prefix"),
    SettingDefinition("AWS_DEFAULT_REGION", None, _text, "AWS region of the pipeline's resources", False),
    SettingDefinition("JOB_ID_DELIMETER", "_", parse_delimiter, "separator inside job ids", False),
    SettingDefinition("BULKLOAD_TOPIC", None, _text, "SNS topic ARN for notifications"),
    SettingDefinition(
        "NEPTUNE_CLUSTER_ENDPOINT",
        None,
        _text,
        "Neptune endpoint (host[:port] or URL; IAM auth: docs/deploy.md)",
        False,
    ),
    SettingDefinition(
        "NEPTUNE_CLUSTER_ID", None, _text, "Neptune cluster id (default: from a cluster endpoint)", False
    ),
    SettingDefinition(
        "NEPTUNE_IAM_ROLE_ARN", None, _checked_str(v.check_role_arns), "role Neptune reads S3 with"
    ),
    SettingDefinition("NEPTUNE_SOURCE_FORMAT", "turtle", _choice_parser(v.NEPTUNE_FORMATS), "loader format"),
    SettingDefinition(
        "NEPTUNE_UPDATE_SINGLE_CARDINALITY_PROPERTIES",
        True,
        parse_bool,
        "loader updateSingleCardinalityProperties",
    ),
    SettingDefinition(
        "NEPTUNE_PARALLELISM", "HIGH", _choice_parser(v.NEPTUNE_PARALLELISMS), "loader parallelism"
    ),
    SettingDefinition("NEPTUNE_QUEUE_REQUEST", True, parse_bool, "loader queueRequest"),
    SettingDefinition("NEPTUNE_FAIL_ON_ERROR", False, parse_bool, "loader failOnError"),
    SettingDefinition("NEPTUNE_LOAD_MODE", "AUTO", _choice_parser(v.NEPTUNE_MODES), "loader mode"),
    SettingDefinition(
        "NEPTUNE_PARSER_CONFIGURATION", None, parse_parser_configuration, "loader parserConfiguration (JSON)"
    ),
    SettingDefinition("LOG_LEVEL", "info", _choice_parser(v.LOG_LEVELS), "log level of the tasks"),
    SettingDefinition(
        "IMAGE_REGISTRY_ALLOWLIST", (), parse_registry_list, "allowed image prefixes (comma list)", False
    ),
    SettingDefinition("PREPARE_IMAGE", DEFAULT_PREPARE_IMAGE, _checked_str(v.check_image), "prepare image"),
    SettingDefinition("RDFOX_IMAGE", DEFAULT_RDFOX_IMAGE, _checked_str(v.check_image), "RDFox image"),
    SettingDefinition("PUBLISH_IMAGE", DEFAULT_PUBLISH_IMAGE, _checked_str(v.check_image), "publish image"),
    SettingDefinition(
        "KUBERNETES_NAMESPACE", "rdfox", _checked_str(v.check_dns1123_label, "namespace"), "pods' namespace"
    ),
    SettingDefinition(
        "SERVICE_ACCOUNT",
        "rdfox-pipeline",
        _checked_str(v.check_dns1123_subdomain, "service account name"),
        "pods' service account",
    ),
    SettingDefinition(
        "RDFOX_LICENSE_SECRET",
        "rdfox-license",
        _checked_str(v.check_dns1123_subdomain, "secret name"),
        "Secret holding RDFox.lic",
    ),
    SettingDefinition(
        "RDFOX_PASSWORD_SECRET",
        "rdfox-password",
        _checked_str(v.check_dns1123_subdomain, "secret name"),
        "Secret holding the RDFox role/password",
    ),
    SettingDefinition(
        "RDFOX_ENDPOINT_TTL_HOURS", 24, _int_parser(1, 24 * 30), "life of a kept RDFox endpoint"
    ),
    SettingDefinition("INPUT_BUCKET", None, _checked_str(v.check_bucket), "default input (job) bucket"),
    SettingDefinition("OUTPUT_BUCKET", None, _checked_str(v.check_bucket), "default output bucket"),
    SettingDefinition("NEPTUNE_LOAD_POLL_SECONDS", 30, _int_parser(1, 3600), "Neptune status poll interval"),
    SettingDefinition("NEPTUNE_LOAD_TIMEOUT_HOURS", 48, _int_parser(1, 24 * 14), "give up on a load after"),
    SettingDefinition(
        "POD_STARTUP_TIMEOUT_SECONDS", 600, _int_parser(1, 24 * 3600), "pod scheduling timeout"
    ),
    SettingDefinition(
        "RDFOX_PREFIXES",
        dict(DEFAULT_PREFIXES),
        parse_prefixes,
        "prefixes the RDFox script declares (JSON object, or NAME=IRI pairs); default: the old pod's four",
    ),
    # -- the pod's bounds (issue 18): operator caps, never a jobspec's choice --------------------------------
    SettingDefinition(
        "POD_DATA_VOLUME_LIMIT", "20Gi", parse_storage, "sizeLimit of the pods' /data emptyDir", False
    ),
    SettingDefinition(
        "POD_OUTPUT_VOLUME_LIMIT", "5Gi", parse_storage, "sizeLimit of the batch pod's /output", False
    ),
    SettingDefinition(
        "RDFOX_MAX_ENDPOINTS", 5, _int_parser(0, 100), "kept RDFox endpoints alive at once (0: none)", False
    ),
    SettingDefinition(
        "RDFOX_ENDPOINT_CLIENT_NAMESPACE",
        None,
        _checked_str(v.check_dns1123_label, "namespace"),
        "namespace whose pods may reach kept endpoints (unset: kubectl port-forward only)",
        False,
    ),
    SettingDefinition(
        "NOTIFICATION_SUBJECT_TEMPLATE",
        None,
        _checked_str(parse_subject_template),
        "SNS subject template, fields {job_id} {dataset} {status} {outcome}; default: built-in subject",
        False,  # mail rules filter on it: one subject for every job
    ),
    # --- issue 18: what a jobspec may choose (domain/jobspec_policy.py; README "What a jobspec may choose")
    SettingDefinition(
        "LOCAL_STACK",
        False,
        parse_bool,
        "true only on the local stack (docker compose, `rdfox-pipeline local up`), which sets it: pods may "
        "then start with an empty IMAGE_REGISTRY_ALLOWLIST",
        False,
    ),
    SettingDefinition(
        "JOBSPEC_ALLOWED_FIELDS",
        {},
        _parse_allowed_fields,
        'closed jobspec fields opened to jobspecs: JSON {"<field.path>": [exact allowed values]}',
        False,
    ),
    SettingDefinition(
        "JOBSPEC_MAX_CORES", 64, _int_parser(1, v.MAX_CORES), "most cores a jobspec may ask", False
    ),
    SettingDefinition("JOBSPEC_MAX_MEMORY", "256Gi", _memory_cap, "most memory a jobspec may ask", False),
    SettingDefinition(
        "JOBSPEC_MAX_ENDPOINT_TTL_HOURS",
        168,
        _int_parser(1, 24 * 30),
        "longest kept endpoint a jobspec may ask",
        False,
    ),
    SettingDefinition(
        "JOBSPEC_MAX_POD_STARTUP_TIMEOUT_SECONDS",
        3600,
        _int_parser(1, 24 * 3600),
        "longest pod startup timeout a jobspec may ask (where JOBSPEC_ALLOWED_FIELDS opens it)",
        False,
    ),
)

# Where a resolved value came from (resolve_settings_with_sources).
SOURCE_JOBSPEC, SOURCE_SSM, SOURCE_ENV, SOURCE_DEFAULT = "jobspec", "ssm", "environment", "default"


@dataclass(frozen=True)
class Settings:
    """Resolved settings; one attribute per setting, lowercase (``settings.job_table_name``)."""

    cluster_name: str | None
    job_table_name: str
    jobspec_name: str
    rdfoxlog_name: str
    aws_default_region: str | None
    job_id_delimeter: str
    bulkload_topic: str | None
    neptune_cluster_endpoint: str | None
    neptune_cluster_id: str | None
    neptune_iam_role_arn: str | None
    neptune_source_format: str
    neptune_update_single_cardinality_properties: bool
    neptune_parallelism: str
    neptune_queue_request: bool
    neptune_fail_on_error: bool
    neptune_load_mode: str
    neptune_parser_configuration: dict[str, Any] | None
    log_level: str
    image_registry_allowlist: tuple[str, ...]
    prepare_image: str
    rdfox_image: str
    publish_image: str
    kubernetes_namespace: str
    service_account: str
    rdfox_license_secret: str
    rdfox_password_secret: str
    rdfox_endpoint_ttl_hours: int
    input_bucket: str | None
    output_bucket: str | None
    neptune_load_poll_seconds: int
    neptune_load_timeout_hours: int
    pod_startup_timeout_seconds: int
    rdfox_prefixes: dict[str, str]
    pod_data_volume_limit: str
    pod_output_volume_limit: str
    rdfox_max_endpoints: int
    rdfox_endpoint_client_namespace: str | None
    notification_subject_template: str | None
    # issue 18: what a jobspec may choose
    local_stack: bool
    jobspec_allowed_fields: dict[str, list[Any]]
    jobspec_max_cores: int
    jobspec_max_memory: str
    jobspec_max_endpoint_ttl_hours: int
    jobspec_max_pod_startup_timeout_seconds: int

    def as_dict(self) -> dict[str, Any]:
        """SETTING_NAME -> value (JSON-friendly: tuples become lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name.upper()] = list(value) if isinstance(value, tuple) else value
        return out

    def require(self, name: str) -> Any:
        """The value of a setting that has no default, or a SettingsError saying it must be configured."""
        value = getattr(self, name.lower())
        if value is None:
            raise SettingsError(name.upper(), f"is not configured (set SSM {SSM_PATH}{name.upper()} or env)")
        return value


def _present(value: object) -> bool:
    # An empty SSM parameter or environment variable means "not set", so the next layer applies.
    return value is not None and not (isinstance(value, str) and not value.strip())


def check_overrides(overrides: Mapping[str, object], *, per_job: bool = True) -> dict[str, Any]:
    """Validate per-job overrides (a jobspec's ``settings``); unknown names and values are SettingsErrors."""
    out: dict[str, Any] = {}
    for name, value in overrides.items():
        definition = SETTINGS.get(name) if isinstance(name, str) else None
        if definition is None:
            raise SettingsError(str(name), "not a known setting name")
        if per_job and not definition.job_overridable:
            raise SettingsError(name, "cannot be overridden per job")
        if value is not None:
            out[name] = definition.coerce(value)
    return out


def resolve_settings_with_sources(
    overrides: Mapping[str, object] | None = None,
    *,
    ssm: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    check_images: bool = True,
) -> tuple[Settings, dict[str, str]]:
    """``resolve_settings`` and, per SETTING_NAME, the layer its value came from: ``"jobspec"``, ``"ssm"``,
    ``"environment"`` or ``"default"``.

    ``check_images=False`` skips the images' allow-list check, for bookkeeping only: a task that must
    record why its pod was refused still needs the job table's name."""
    checked = check_overrides(overrides or {}, per_job=False)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, definition in SETTINGS.items():
        if name in checked:
            values[definition.attribute], sources[name] = checked[name], SOURCE_JOBSPEC
            continue
        raw: object = None
        sources[name] = SOURCE_DEFAULT
        for source, layer in ((SOURCE_SSM, ssm or {}), (SOURCE_ENV, env or {})):
            if _present(layer.get(name)):
                raw, sources[name] = layer[name], source
                break
        values[definition.attribute] = definition.default if raw is None else definition.coerce(raw)
    # Whatever layer an image came from, it must pass the allow-list that won.
    allowlist = values["image_registry_allowlist"]
    for name in ("PREPARE_IMAGE", "RDFOX_IMAGE", "PUBLISH_IMAGE") if check_images else ():
        try:
            v.check_image(values[name.lower()], allowlist)
        except ValueError as exc:
            raise SettingsError(name, str(exc)) from None
    return Settings(**values), sources


def resolve_settings(
    overrides: Mapping[str, object] | None = None,
    *,
    ssm: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    check_images: bool = True,
) -> Settings:
    """Combine the layers; precedence overrides (jobspec) > ssm > env > default. Reads no environment itself.

    ``ssm`` and ``env`` are keyed by SETTING_NAME; other keys are ignored (the environment holds much else).
    ``overrides`` must only hold known setting names.
    """
    return resolve_settings_with_sources(overrides, ssm=ssm, env=env, check_images=check_images)[0]
