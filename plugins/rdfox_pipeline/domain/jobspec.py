"""The jobspec: one validated model (the nested "new form"); the old system's flat form is accepted unchanged
and converted. Every error is one line ``"<field.path>: <what is wrong>"`` using the keys the user wrote.

New form (all keys optional except ``dataset``)::

    {"dataset": "DATASET", "job_bucket": "in", "output_bucket": "out", "name": "nightly",
     "resources": {"cores": 4, "memory": "16Gi"},
     "images": {"prepare": null, "rdfox": null, "publish": null},          # null = the *_IMAGE setting
     "kubernetes": {"namespace": null, "service_account": null, "restart_policy": "Never"},
     "rdfox": {"license_secret_name": null, "password_secret_name": null, "port": 12110,
               "keep_endpoint": false, "endpoint_ttl_hours": null,
               "prefixes": {"ex": "http://example.org/"}},  # added to / replacing RDFOX_PREFIXES
     "neptune": {"format": null, "parallelism": null, "queue_request": null, "fail_on_error": null,
                 "update_single_cardinality_properties": null, "mode": null,
                 "parser_configuration": null, "iam_role_arn": null, "cluster_endpoint": null},
     "settings": {"NEPTUNE_LOAD_POLL_SECONDS": 10}}                        # per-job setting overrides
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from rdfox_pipeline.domain import validators as v
from rdfox_pipeline.domain.prefixes import check_prefixes
from rdfox_pipeline.domain.settings import SETTINGS, SettingsError, check_overrides

MAX_JOBSPEC_BYTES = 1_000_000
DEFAULT_CORES = 4
DEFAULT_MEMORY = "16Gi"
DEFAULT_RDFOX_PORT = 12110


class JobSpecError(ValueError):
    """An invalid jobspec; ``str()`` is one line ``"<field.path>: <what is wrong>"``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# --- field types: each check gets the validation context (delimiter, allowed registries)
def _context(info: ValidationInfo) -> Mapping[str, Any]:
    return info.context or {}


def _dataset(value: str, info: ValidationInfo) -> str:
    return v.check_dataset(value, _context(info).get("delimiter", "_"))


def _image(value: str, info: ValidationInfo) -> str:
    return v.check_image(value, tuple(_context(info).get("allowed_registries", ())))


def _image_reference(value: str) -> str:
    # Syntax only: an image that is recorded but never run is not subject to the registry allow-list.
    return v.check_image(value)


def _choice(choices: Sequence[str]) -> AfterValidator:
    return AfterValidator(lambda value: v.check_choice(value, choices))


Dataset = Annotated[str, AfterValidator(_dataset)]
Name = Annotated[str, AfterValidator(v.check_name)]
Bucket = Annotated[str, AfterValidator(v.check_bucket)]
Cores = Annotated[int, AfterValidator(v.check_cores)]
Memory = Annotated[str, AfterValidator(v.check_memory)]
Image = Annotated[str, AfterValidator(_image)]
Namespace = Annotated[str, AfterValidator(lambda s: v.check_dns1123_label(s, "namespace"))]
ServiceAccount = Annotated[
    str, AfterValidator(lambda s: v.check_dns1123_subdomain(s, "service account name"))
]
SecretName = Annotated[str, AfterValidator(lambda s: v.check_dns1123_subdomain(s, "secret name"))]
Port = Annotated[int, AfterValidator(v.check_port)]
TtlHours = Annotated[int, AfterValidator(lambda n: v.check_int_range(n, 1, 24 * 30))]
RestartPolicy = Annotated[str, _choice(v.RESTART_POLICIES)]
NeptuneFormat = Annotated[str, _choice(v.NEPTUNE_FORMATS)]
NeptuneParallelism = Annotated[str, _choice(v.NEPTUNE_PARALLELISMS)]
NeptuneMode = Annotated[str, _choice(v.NEPTUNE_MODES)]
ParserConfiguration = Annotated[dict[str, Any], AfterValidator(v.check_parser_configuration)]
RoleArn = Annotated[str, AfterValidator(v.check_role_arns)]
Prefixes = Annotated[dict[str, str], AfterValidator(check_prefixes)]
NeptuneEndpoint = Annotated[str, AfterValidator(v.check_neptune_endpoint)]
ImageReference = Annotated[str, AfterValidator(_image_reference)]
AwsRegion = Annotated[str, AfterValidator(v.check_aws_region)]


class _Strict(BaseModel):
    # strict: "4" is not an int and true is not an int; extra="forbid": unknown keys are errors.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Resources(_Strict):
    cores: Cores = DEFAULT_CORES
    memory: Memory = DEFAULT_MEMORY


class Images(_Strict):
    prepare: Image | None = None
    rdfox: Image | None = None
    publish: Image | None = None


class KubernetesOptions(_Strict):
    namespace: Namespace | None = None
    service_account: ServiceAccount | None = None
    restart_policy: RestartPolicy = "Never"


class RdfoxOptions(_Strict):
    license_secret_name: SecretName | None = None
    password_secret_name: SecretName | None = None
    port: Port = DEFAULT_RDFOX_PORT
    keep_endpoint: bool = False
    endpoint_ttl_hours: TtlHours | None = None
    # Added to (or replacing same-named) prefixes of the RDFOX_PREFIXES setting, per job.
    prefixes: Prefixes | None = None


class NeptuneOptions(_Strict):
    """Per-job loader parameters; None = the NEPTUNE_* setting."""

    format: NeptuneFormat | None = None
    parallelism: NeptuneParallelism | None = None
    queue_request: bool | None = None
    fail_on_error: bool | None = None
    update_single_cardinality_properties: bool | None = None
    mode: NeptuneMode | None = None
    parser_configuration: ParserConfiguration | None = None
    iam_role_arn: RoleArn | None = None
    # Only through this checked field (the raw ``settings`` may not name NEPTUNE_CLUSTER_ENDPOINT).
    cluster_endpoint: NeptuneEndpoint | None = None


# Which setting each jobspec field overrides (used by setting_overrides and for conflict checks).
FIELD_SETTINGS: Mapping[tuple[str, ...], str] = {
    ("job_bucket",): "INPUT_BUCKET",
    ("output_bucket",): "OUTPUT_BUCKET",
    ("images", "prepare"): "PREPARE_IMAGE",
    ("images", "rdfox"): "RDFOX_IMAGE",
    ("images", "publish"): "PUBLISH_IMAGE",
    ("kubernetes", "namespace"): "KUBERNETES_NAMESPACE",
    ("kubernetes", "service_account"): "SERVICE_ACCOUNT",
    ("rdfox", "license_secret_name"): "RDFOX_LICENSE_SECRET",
    ("rdfox", "password_secret_name"): "RDFOX_PASSWORD_SECRET",
    ("rdfox", "endpoint_ttl_hours"): "RDFOX_ENDPOINT_TTL_HOURS",
    ("neptune", "format"): "NEPTUNE_SOURCE_FORMAT",
    ("neptune", "parallelism"): "NEPTUNE_PARALLELISM",
    ("neptune", "queue_request"): "NEPTUNE_QUEUE_REQUEST",
    ("neptune", "fail_on_error"): "NEPTUNE_FAIL_ON_ERROR",
    ("neptune", "update_single_cardinality_properties"): "NEPTUNE_UPDATE_SINGLE_CARDINALITY_PROPERTIES",
    ("neptune", "mode"): "NEPTUNE_LOAD_MODE",
    ("neptune", "parser_configuration"): "NEPTUNE_PARSER_CONFIGURATION",
    ("neptune", "iam_role_arn"): "NEPTUNE_IAM_ROLE_ARN",
    ("neptune", "cluster_endpoint"): "NEPTUNE_CLUSTER_ENDPOINT",
}
_IMAGE_SETTINGS = ("PREPARE_IMAGE", "RDFOX_IMAGE", "PUBLISH_IMAGE")


def _key_error(subpath: str, problem: str) -> PydanticCustomError:
    # pydantic cannot point an error below a model's own path from a model validator; carry the key in ctx.
    return PydanticCustomError("jobspec_subpath", "{problem}", {"subpath": subpath, "problem": problem})


def _subpath_error(subpath: str, problem: str) -> PydanticCustomError:
    return _key_error(f"settings.{subpath}", problem)


class JobSpec(_Strict):
    """A validated jobspec in the normalised (new) form."""

    dataset: Dataset
    job_bucket: Bucket | None = None
    output_bucket: Bucket | None = None
    name: Name | None = None
    resources: Resources = Resources()
    images: Images = Images()
    kubernetes: KubernetesOptions = KubernetesOptions()
    rdfox: RdfoxOptions = RdfoxOptions()
    neptune: NeptuneOptions = NeptuneOptions()
    settings: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check_settings(self, info: ValidationInfo) -> JobSpec:
        allowed = tuple(_context(info).get("allowed_registries", ()))
        for name, value in self.settings.items():
            try:
                coerced = check_overrides({name: value})
            except SettingsError as exc:
                raise _subpath_error(exc.name, exc.problem) from None
            if name in _IMAGE_SETTINGS and name in coerced:
                try:
                    v.check_image(coerced[name], allowed)
                except ValueError as exc:
                    raise _subpath_error(name, str(exc)) from None
            for path, setting in FIELD_SETTINGS.items():
                if setting == name and self._get(path) is not None:
                    raise _subpath_error(name, f"conflicts with {'.'.join(path)}; give only one")
        return self

    def _get(self, path: tuple[str, ...]) -> Any:
        node: Any = self
        for part in path:
            node = getattr(node, part)
        return node

    def setting_overrides(self) -> dict[str, Any]:
        """SETTING_NAME -> value this job overrides (for ``resolve_settings(overrides=...)``)."""
        out = check_overrides(self.settings)
        for path, setting in FIELD_SETTINGS.items():
            value = self._get(path)
            if value is not None:
                out[setting] = value
        return out

    def to_json_dict(self) -> dict[str, Any]:
        """The normalised new form as JSON-ready data; ``parse_jobspec`` of it gives an equal JobSpec."""
        return self.model_dump(mode="json")


# --- the old flat form
# Old ``neptune_configuration`` parameters that the old code read in two spellings: the loader's camelCase and
# snake_case (as in its settings). One document may use either spelling of a parameter, never both.
_NEPTUNE_SPELLINGS: Mapping[str, str] = {
    "format": "source_format",
    "queueRequest": "queue_request",
    "failOnError": "fail_on_error",
    "updateSingleCardinalityProperties": "update_single_cardinality_properties",
    "parserConfiguration": "parser_configuration",
    "iamRoleArn": "iam_role_arn",
    "clusterEndpoint": "cluster_endpoint",
}


class _OldNeptuneConfiguration(_Strict):
    """Old ``neptune_configuration``: Neptune loader parameters, camelCase (the loader's) or snake_case."""

    format: NeptuneFormat | None = None
    source_format: NeptuneFormat | None = None
    parallelism: NeptuneParallelism | None = None
    queueRequest: bool | None = None
    queue_request: bool | None = None
    failOnError: bool | None = None
    fail_on_error: bool | None = None
    updateSingleCardinalityProperties: bool | None = None
    update_single_cardinality_properties: bool | None = None
    mode: NeptuneMode | None = None
    parserConfiguration: ParserConfiguration | None = None
    parser_configuration: ParserConfiguration | None = None
    iamRoleArn: RoleArn | None = None
    iam_role_arn: RoleArn | None = None
    clusterEndpoint: NeptuneEndpoint | None = None
    cluster_endpoint: NeptuneEndpoint | None = None
    # The loader's ``region``: the region of the bucket and of the cluster. The pipeline loads from its own
    # output bucket in AWS_DEFAULT_REGION, so the old value is only accepted when it is that region.
    region: AwsRegion | None = None

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> _OldNeptuneConfiguration:
        for camel, snake in _NEPTUNE_SPELLINGS.items():
            if camel in self.model_fields_set and snake in self.model_fields_set:
                raise _key_error(
                    snake, f"the same loader parameter as {camel!r}; give only one of {camel!r} and {snake!r}"
                )
        pipeline_region = _context(info).get("aws_region")
        if self.region is not None and pipeline_region and self.region != pipeline_region:
            raise _key_error(
                "region",
                f"{self.region!r} differs from the pipeline's region {pipeline_region!r} "
                "(AWS_DEFAULT_REGION): the pipeline's output bucket and Neptune cluster are there, and a job "
                "cannot move them",
            )
        return self

    def get(self, camel: str) -> Any:
        """The parameter under either spelling (the validator made sure at most one is given)."""
        value = getattr(self, camel)
        return getattr(self, _NEPTUNE_SPELLINGS[camel]) if value is None else value


def _one_pod(value: int) -> int:
    # The old "parallelism" was pods per job; the pipeline runs exactly one RDFox pod per job.
    if value != 1:
        raise ValueError(f"only 1 pod per job is supported, got {value}")
    return value


def _old_memory(value: Any) -> str:
    # The old tool passed requested_memory to Kubernetes as it was: a bare number there means bytes.
    if isinstance(value, int) and not isinstance(value, bool):
        return v.memory_from_bytes(value)
    if isinstance(value, str):
        return v.check_memory(value)
    raise ValueError(
        "expected a Kubernetes quantity such as '10Gi' or an integer number of bytes, "
        f"got {v.json_type_name(value)}"
    )


def _requested_job_id(value: str) -> str:
    if not 1 <= len(value) <= 200 or not value.isprintable():
        raise ValueError("must be 1-200 printable characters")
    return value


# The old submitter wrote auto_shutdown false by default: an endpoint kept that way was never asked for,
# so it must not stop the job when RDFOX_MAX_ENDPOINTS are alive (operators/rdfox_pod.py).
_AUTO_SHUTDOWN_NOTE = "auto_shutdown: "


def kept_only_by_old_default(notes: Sequence[str]) -> bool:
    """Whether a job keeps its endpoint only because its old flat-form jobspec did (``auto_shutdown``)."""
    return any(str(note).startswith(_AUTO_SHUTDOWN_NOTE) for note in notes)


class _OldJobSpec(_Strict):
    job_key: Dataset
    job_bucket: Bucket | None = None
    output_bucket: Bucket | None = None
    requested_cores: Cores = DEFAULT_CORES
    requested_memory: Annotated[Any, AfterValidator(_old_memory)] = DEFAULT_MEMORY
    # The old init/publisher images ran the old steps; recorded, never run (see notes()).
    init_container_image: ImageReference | None = None
    rdfox_container_image: Image | None = None
    publisher_container_image: ImageReference | None = None
    rdfox_init_container_image: ImageReference | None = None
    # The old default: the RDFox pod stayed up after the job (now a separate endpoint pod, with a TTL).
    auto_shutdown: bool = False
    parallelism: Annotated[int, AfterValidator(_one_pod)] = 1
    namespace: Namespace | None = None
    service_account: ServiceAccount | None = None
    license_secret_name: SecretName | None = None
    rdfox_password_secret: SecretName | None = None
    rdfox_port: Port = DEFAULT_RDFOX_PORT
    restart_policy: RestartPolicy = "Never"
    neptune_configuration: _OldNeptuneConfiguration | None = None
    # The id the old tool computed itself; the pipeline allocates ids (see notes()).
    job_id: Annotated[str, AfterValidator(_requested_job_id)] | None = None

    def to_new_form(self) -> dict[str, Any]:
        nc = self.neptune_configuration or _OldNeptuneConfiguration()
        return {
            "dataset": self.job_key,
            "job_bucket": self.job_bucket,
            "output_bucket": self.output_bucket,
            "resources": {"cores": self.requested_cores, "memory": self.requested_memory},
            # prepare/publish: the pipeline's own step images (PREPARE_IMAGE / PUBLISH_IMAGE settings).
            "images": {"rdfox": self.rdfox_container_image},
            "kubernetes": {
                "namespace": self.namespace,
                "service_account": self.service_account,
                "restart_policy": self.restart_policy,
            },
            "rdfox": {
                "license_secret_name": self.license_secret_name,
                "password_secret_name": self.rdfox_password_secret,
                "port": self.rdfox_port,
                "keep_endpoint": not self.auto_shutdown,
            },
            "neptune": {
                "format": nc.get("format"),
                "parallelism": nc.parallelism,
                "queue_request": nc.get("queueRequest"),
                "fail_on_error": nc.get("failOnError"),
                "update_single_cardinality_properties": nc.get("updateSingleCardinalityProperties"),
                "mode": nc.mode,
                "parser_configuration": nc.get("parserConfiguration"),
                "iam_role_arn": nc.get("iamRoleArn"),
                "cluster_endpoint": nc.get("clusterEndpoint"),
            },
        }

    def notes(self, endpoint_ttl_hours: int | None = None) -> tuple[str, ...]:
        """What the pipeline does differently from the old system for this document, one line per key."""
        out: list[str] = []
        for key, setting, step in (
            ("init_container_image", "PREPARE_IMAGE", "prepare"),
            ("publisher_container_image", "PUBLISH_IMAGE", "publish"),
        ):
            image = getattr(self, key)
            if image is not None:
                out.append(
                    f"{key}: {image!r} accepted but not used: the old image cannot run the new {step} step; "
                    f"the pipeline's {step} image ({setting} setting) runs instead"
                )
        if self.rdfox_init_container_image is not None:
            out.append(
                f"rdfox_init_container_image: {self.rdfox_init_container_image!r} accepted but not used: "
                "the new pod has no RDFox init container (the prepare step fetches the data and writes the "
                "script)"
            )
        if not self.auto_shutdown:
            ttl = f"{endpoint_ttl_hours} h" if endpoint_ttl_hours else "its time"
            given = (
                "false" if "auto_shutdown" in self.model_fields_set else "absent, so the old default false"
            )
            out.append(
                f"{_AUTO_SHUTDOWN_NOTE}{given}: the RDFox endpoint is kept after the job, as a pod of its "
                f"own serving the published answers, for {ttl} after the reasoning ends "
                "(RDFOX_ENDPOINT_TTL_HOURS setting; the record's rdfox_endpoint_expires_at says until when), "
                "then Kubernetes ends it; "
                "`rdfox-pipeline endpoint delete <job id>` ends it sooner; when RDFOX_MAX_ENDPOINTS "
                "endpoints are alive already, the job runs and keeps none (rdfox_endpoint_not_kept says why)"
            )
        if self.job_id is not None:
            out.append(
                f"job_id: {self.job_id!r} is recorded as the id the old tool asked for, not used: the "
                "pipeline allocates job ids itself, atomically (two jobs never share one, a retry never "
                "takes a second)"
            )
        nc = self.neptune_configuration
        if nc is not None and nc.region is not None:
            out.append(
                f"neptune_configuration.region: {nc.region!r} accepted: the pipeline loads in its own region "
                "(AWS_DEFAULT_REGION), which a job cannot change"
            )
        return tuple(out)


# Where each old flat-form key lands in the new form (for the policy, which names the key the user wrote).
_OLD_KEY_PATHS: Mapping[str, tuple[str, ...]] = {
    "job_bucket": ("job_bucket",),
    "output_bucket": ("output_bucket",),
    "rdfox_container_image": ("images", "rdfox"),
    "namespace": ("kubernetes", "namespace"),
    "service_account": ("kubernetes", "service_account"),
    "restart_policy": ("kubernetes", "restart_policy"),
    "license_secret_name": ("rdfox", "license_secret_name"),
    "rdfox_password_secret": ("rdfox", "password_secret_name"),
    "rdfox_port": ("rdfox", "port"),
    "requested_cores": ("resources", "cores"),
    "requested_memory": ("resources", "memory"),
    "auto_shutdown": ("rdfox", "keep_endpoint"),
}
_OLD_NEPTUNE_PATHS: Mapping[str, str] = {
    **{camel: camel for camel in _NEPTUNE_SPELLINGS},
    **{snake: camel for camel, snake in _NEPTUNE_SPELLINGS.items()},
    "parallelism": "parallelism",
    "mode": "mode",
}
_NEW_NEPTUNE_NAMES: Mapping[str, str] = {
    "format": "format",
    "parallelism": "parallelism",
    "queueRequest": "queue_request",
    "failOnError": "fail_on_error",
    "updateSingleCardinalityProperties": "update_single_cardinality_properties",
    "mode": "mode",
    "parserConfiguration": "parser_configuration",
    "iamRoleArn": "iam_role_arn",
    "clusterEndpoint": "cluster_endpoint",
}


def given_fields(data: Mapping[str, Any]) -> dict[tuple[str, ...], str]:
    """New-form path -> the key the user wrote (``"kubernetes.namespace"``, old ``"namespace"``), for every
    field a jobspec document gives a non-null value; ``("settings", NAME)`` for each per-job setting.

    Call it on a document ``parse_jobspec`` accepted. Old keys that are recorded but never used (the old
    init/publisher images, ``job_id``, ``parallelism``, ``neptune_configuration.region``) are not listed.
    """
    out: dict[tuple[str, ...], str] = {}
    if any(k in OLD_FORM_KEYS for k in data):
        for key, path in _OLD_KEY_PATHS.items():
            if data.get(key) is not None:
                out[path] = key
        nc = data.get("neptune_configuration")
        for key, value in nc.items() if isinstance(nc, Mapping) else ():
            if value is not None and key in _OLD_NEPTUNE_PATHS:
                out[("neptune", _NEW_NEPTUNE_NAMES[_OLD_NEPTUNE_PATHS[key]])] = f"neptune_configuration.{key}"
        return out
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, Mapping) and key in (
            "resources",
            "images",
            "kubernetes",
            "rdfox",
            "neptune",
            "settings",
        ):
            for sub, subvalue in value.items():
                if subvalue is not None:
                    out[(key, str(sub))] = f"{key}.{sub}"
        else:
            out[(key,)] = key
    return out


SHARED_KEYS = frozenset({"job_bucket", "output_bucket"})
OLD_FORM_KEYS = frozenset(_OldJobSpec.model_fields) - SHARED_KEYS
NEW_FORM_KEYS = frozenset(JobSpec.model_fields) - SHARED_KEYS


# --- errors
def _allowed_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str] | None:
    """The keys allowed in the object at ``loc`` (for "unknown key" messages), if it is a model."""
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        inner = field.annotation
        candidates = [a for a in getattr(inner, "__args__", (inner,)) if isinstance(a, type)]
        models = [c for c in candidates if issubclass(c, BaseModel)]
        if not models:
            return None
        model = models[0]
    return list(model.model_fields)


_EXPECTED = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "float_type": "a number",
    "list_type": "an array",
}


def _to_jobspec_error(exc: ValidationError, model: type[BaseModel]) -> JobSpecError:
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "jobspec_subpath":
        loc.append(ctx["subpath"])
        problem = ctx["problem"]
    elif kind == "missing":
        problem = "is required"
    elif kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        problem = "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    elif kind == "value_error":
        problem = str(ctx.get("error", err["msg"]))
    elif kind in _EXPECTED:
        problem = f"expected {_EXPECTED[kind]}, got {v.json_type_name(err.get('input'))}"
    else:
        problem = err["msg"]
    return JobSpecError(".".join(loc) or "jobspec", problem)


# --- raw input
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys silently; in a jobspec that hides a mistake.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JobSpecError(key, "duplicate key")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise JobSpecError("jobspec", f"not valid JSON ({name} is not allowed)")


def load_jobspec_document(raw: bytes | str) -> Any:
    """Decode and parse a jobspec document; every problem is a JobSpecError with path ``jobspec``."""
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > MAX_JOBSPEC_BYTES:
        raise JobSpecError("jobspec", f"document is {size} bytes, larger than the 1 MB limit")
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JobSpecError("jobspec", f"not valid UTF-8 (byte {exc.start})") from None
    else:
        text = raw.removeprefix("\ufeff")
    if not text.strip():
        raise JobSpecError("jobspec", "empty document")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise JobSpecError(
            "jobspec", f"not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise JobSpecError("jobspec", "not valid JSON (nested too deeply)") from None


class ParsedJobSpec(NamedTuple):
    """A validated jobspec and the notes on what of the old flat form is accepted but done differently."""

    spec: JobSpec
    notes: tuple[str, ...]


def parse_jobspec(
    raw: bytes | str | Mapping[str, Any],
    *,
    allowed_registries: Sequence[str] = (),
    delimiter: str = "_",
    aws_region: str | None = None,
    endpoint_ttl_hours: int | None = None,
) -> JobSpec:
    """Validate a jobspec (old flat or new nested form) into the normalised JobSpec."""
    return parse_jobspec_with_notes(
        raw,
        allowed_registries=allowed_registries,
        delimiter=delimiter,
        aws_region=aws_region,
        endpoint_ttl_hours=endpoint_ttl_hours,
    ).spec


def parse_jobspec_with_notes(
    raw: bytes | str | Mapping[str, Any],
    *,
    allowed_registries: Sequence[str] = (),
    delimiter: str = "_",
    aws_region: str | None = None,
    endpoint_ttl_hours: int | None = None,
) -> ParsedJobSpec:
    """Validate a jobspec, with notes for old flat-form keys that are accepted but not used as they were.

    ``aws_region`` (the AWS_DEFAULT_REGION setting) checks an old ``neptune_configuration.region``;
    ``endpoint_ttl_hours`` (RDFOX_ENDPOINT_TTL_HOURS) is quoted in the kept-endpoint note.
    """
    data = raw if isinstance(raw, Mapping) else load_jobspec_document(raw)
    if not isinstance(data, Mapping):
        raise JobSpecError("jobspec", f"expected a JSON object, got {v.json_type_name(data)}")
    context = {
        "allowed_registries": tuple(allowed_registries),
        "delimiter": delimiter,
        "aws_region": aws_region,
    }
    notes: tuple[str, ...] = ()
    old_keys = sorted(k for k in data if k in OLD_FORM_KEYS)
    new_keys = sorted(k for k in data if k in NEW_FORM_KEYS)
    if old_keys and new_keys:
        raise JobSpecError(
            new_keys[0],
            f"cannot be mixed with the old flat form's {old_keys[0]!r}; use one form or the other",
        )
    if old_keys:
        try:
            old = _OldJobSpec.model_validate(data, context=context)
        except ValidationError as exc:
            raise _to_jobspec_error(exc, _OldJobSpec) from None
        data = old.to_new_form()
        notes = old.notes(endpoint_ttl_hours)
    elif "dataset" not in data:
        raise JobSpecError("dataset", "is required (job_key in the old flat form)")
    try:
        return ParsedJobSpec(JobSpec.model_validate(data, context=context), notes)
    except ValidationError as exc:
        raise _to_jobspec_error(exc, JobSpec) from None


__all__ = [
    "OLD_FORM_KEYS",
    "SETTINGS",
    "JobSpec",
    "JobSpecError",
    "ParsedJobSpec",
    "given_fields",
    "load_jobspec_document",
    "parse_jobspec",
    "parse_jobspec_with_notes",
]
