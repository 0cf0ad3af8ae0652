"""Value checks shared by the jobspec and the settings: each returns the (normalised) value or raises
ValueError with a message that says what is wrong *without* the field name (callers prefix the path)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

# --- enumerations Neptune's loader accepts (POST /loader) -------------------------------------------------
NEPTUNE_FORMATS = ("ntriples", "nquads", "rdfxml", "turtle", "csv", "opencypher")
NEPTUNE_PARALLELISMS = ("LOW", "MEDIUM", "HIGH", "OVERSUBSCRIBE")
NEPTUNE_MODES = ("RESUME", "NEW", "AUTO")
# parserConfiguration keys documented for the loader, with their JSON types.
NEPTUNE_PARSER_CONFIGURATION_KEYS: Mapping[str, type] = {
    "baseUri": str,
    "namedGraphUri": str,
    "allowEmptyStrings": bool,
}
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# A pod that restarts forever (Always) would never let publish finish; these are the job-like policies.
RESTART_POLICIES = ("Never", "OnFailure")

MAX_CORES = 512
MAX_MEMORY_BYTES = 64 * 2**40  # 64Ti: larger than any EC2 instance, so surely a typo
MIN_MEMORY_BYTES = 2**20  # 1Mi: RDFox cannot start below this
# A bare byte count under 256Mi is almost surely a unit mistake ("10" meant as 10Gi), not a real request.
MIN_MEMORY_BYTES_INTEGER = 256 * 2**20
MAX_DATASET_LENGTH = 100

_DATASET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# JSON-schema patterns (ECMA and Python alike) for the trigger form: what check_dataset, check_memory and
# check_bucket accept, less what only a run can know (the job-id delimiter, the operator's caps).
DATASET_PATTERN = rf"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_DATASET_LENGTH - 1}}}$"
QUANTITY_PATTERN = r"^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_BUCKET_RE = re.compile(BUCKET_PATTERN)
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_QUANTITY_RE = re.compile(
    r"^(?P<num>\d+(?:\.\d*)?|\.\d+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
_QUANTITY_FACTORS: Mapping[str, Decimal] = {
    "": Decimal(1),
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
# An OCI image reference: [host[:port]/]path[:tag][@algo:hex]
_IMAGE_RE = re.compile(
    r"^(?:(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[+._-][a-z0-9]+)*:[A-Fa-f0-9]{32,}))?$"
)
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")


def json_type_name(value: object) -> str:
    """The JSON name of a Python value's type, for messages ("got string", not "got str")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _shown(value: str, limit: int = 60) -> str:
    """repr() of user text, shortened: a 1 MB value must not become a 1 MB error line."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def check_dataset(value: str, delimiter: str = "_") -> str:
    if not value:
        raise ValueError("must not be empty")
    if delimiter and delimiter in value:
        raise ValueError(f"{_shown(value)} must not contain the job-id delimiter {delimiter!r}")
    if "/" in value:
        raise ValueError(f"{_shown(value)} must not contain '/'")
    if ".." in value:
        raise ValueError(f"{_shown(value)} must not contain '..'")
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        raise ValueError(f"{_shown(value)} must not contain control, space or non-printable characters")
    if len(value) > MAX_DATASET_LENGTH:
        raise ValueError(f"must be at most {MAX_DATASET_LENGTH} characters, got {len(value)}")
    if not value.isascii() or not _DATASET_RE.match(value):
        raise ValueError(
            f"{_shown(value)} is not a valid dataset name: use ASCII letters, digits, '.', '-' and '_' "
            "(except the job-id delimiter), starting with a letter or digit"
        )
    return value


def check_name(value: str) -> str:
    """A jobspec's own name (the file stem of ``<name>.rdfoxjob.json``)."""
    if not value.isascii() or not _NAME_RE.match(value) or ".." in value:
        raise ValueError(
            f"{_shown(value)} is not a valid jobspec name: 1-200 ASCII letters, digits, '.', '-' or '_', "
            "starting with a letter or digit, no '..'"
        )
    return value


def check_bucket(value: str) -> str:
    """S3 general purpose bucket naming rules (AWS S3 user guide, "Bucket naming rules")."""
    if not 3 <= len(value) <= 63:
        raise ValueError(f"{_shown(value)} is not a valid S3 bucket name: must be 3-63 characters long")
    if not _BUCKET_RE.match(value):
        raise ValueError(
            f"{_shown(value)} is not a valid S3 bucket name: use lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    if ".." in value:
        raise ValueError(f"{_shown(value)} is not a valid S3 bucket name: two adjacent periods")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        raise ValueError(f"{_shown(value)} is not a valid S3 bucket name: formatted as an IP address")
    for prefix in _BUCKET_BAD_PREFIXES:
        if value.startswith(prefix):
            raise ValueError(f"{_shown(value)} is not a valid S3 bucket name: must not start with {prefix!r}")
    for suffix in _BUCKET_BAD_SUFFIXES:
        if value.endswith(suffix):
            raise ValueError(f"{_shown(value)} is not a valid S3 bucket name: must not end with {suffix!r}")
    return value


def check_dns1123_label(value: str, what: str = "name") -> str:
    if len(value) > 63 or not _DNS1123_LABEL_RE.match(value):
        raise ValueError(
            f"{_shown(value)} is not a valid Kubernetes {what}: a DNS-1123 label (at most 63 lowercase "
            "letters, digits or '-', starting and ending with a letter or digit)"
        )
    return value


def check_dns1123_subdomain(value: str, what: str = "name") -> str:
    if not value or len(value) > 253 or not all(_DNS1123_LABEL_RE.match(p) for p in value.split(".")):
        raise ValueError(
            f"{_shown(value)} is not a valid Kubernetes {what}: a DNS-1123 subdomain (at most 253 lowercase "
            "letters, digits, '-' or '.', starting and ending with a letter or digit)"
        )
    return value


def quantity_bytes(value: str) -> Decimal:
    """The number of bytes a Kubernetes quantity denotes (``"10Gi"`` -> 10737418240)."""
    match = _QUANTITY_RE.match(value)
    if not match:
        raise ValueError(f"{_shown(value)} is not a Kubernetes quantity (e.g. '10Gi', '512Mi', '16G', '1e9')")
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["num"])
        if suffix not in _QUANTITY_FACTORS:  # "e6"/"E-3" exponents; not "E" (exa) or "Ei" (exbi)
            exponent = int(suffix[1:])
            if abs(exponent) > 30:
                raise ValueError(f"{_shown(value)}: exponent out of range")
            return number * (Decimal(10) ** exponent)
        return number * _QUANTITY_FACTORS[suffix]
    except InvalidOperation:
        raise ValueError(f"{_shown(value)} is not a Kubernetes quantity") from None


def check_memory(value: str) -> str:
    size = quantity_bytes(value)
    if size < MIN_MEMORY_BYTES:
        raise ValueError(f"{_shown(value)} is too small for RDFox: at least 1Mi")
    if size > MAX_MEMORY_BYTES:
        raise ValueError(f"{_shown(value)} is absurdly large: at most 64Ti")
    return value


def memory_from_bytes(value: int) -> str:
    """An integer byte count (what Kubernetes makes of a bare number) as a checked quantity string.

    The largest binary unit that divides it exactly: 10737418240 -> "10Gi", 300000001 -> "300000001".
    """
    if value < MIN_MEMORY_BYTES_INTEGER:
        raise ValueError(
            f"{value} bytes is too small for RDFox: at least 256Mi ({MIN_MEMORY_BYTES_INTEGER} bytes); "
            "a bare number means bytes, give a quantity such as '10Gi'"
        )
    for suffix in ("Ti", "Gi", "Mi", "Ki"):
        factor = int(_QUANTITY_FACTORS[suffix])
        if value % factor == 0:
            return check_memory(f"{value // factor}{suffix}")
    return check_memory(str(value))


def check_cores(value: int) -> int:
    if value <= 0:
        raise ValueError(f"must be a positive number of cores, got {value}")
    if value > MAX_CORES:
        raise ValueError(f"{value} cores is absurd: at most {MAX_CORES}")
    return value


def check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"must be a TCP port between 1 and 65535, got {value}")
    return value


def check_int_range(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}, got {value}")
    return value


def _docker_normalised(image: str) -> str:
    """``rdfox`` -> ``docker.io/library/rdfox``: the same image as Docker resolves it."""
    first, sep, _rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return image
    return "docker.io/" + (image if sep else "library/" + image)


def normalised_image(image: str) -> str:
    """The fully qualified form of an image reference (Docker Hub short names get ``docker.io/``)."""
    return _docker_normalised(image)


def _prefix_matches(image: str, prefix: str) -> bool:
    # A prefix must end on a component boundary: "registry.io" must not allow "registry.io.evil.com/x".
    if not image.startswith(prefix):
        return False
    return prefix.endswith(("/", ":", "@")) or len(image) == len(prefix) or image[len(prefix)] in "/:@"


def check_image(value: str, allowed_registries: Sequence[str] = ()) -> str:
    if not value or len(value) > 512 or not _IMAGE_RE.match(value):
        raise ValueError(f"{_shown(value)} is not a container image reference (e.g. 'registry/repo:tag')")
    if allowed_registries:
        candidates = (value, _docker_normalised(value))
        if not any(_prefix_matches(c, p) for c in candidates for p in allowed_registries if p):
            raise ValueError(
                f"image {_shown(value)} is not under an allowed registry ({', '.join(allowed_registries)})"
            )
    return value


_HOST_RE = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_AWS_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")


def check_neptune_endpoint(value: str) -> str:
    """``https://host[:port]`` or ``host[:port]``: the loader is reached over TLS and the path is ours.

    The message never repeats the value: a URL with credentials in it must not reach a log.
    """
    rest = value
    if "://" in rest:
        scheme, _, rest = rest.partition("://")
        if scheme.lower() != "https":
            raise ValueError("must be https://host[:port] or host[:port] (Neptune is reached over TLS only)")
    if any(ch in rest for ch in "@/?#"):
        raise ValueError(
            "must be https://host[:port] or host[:port]: no credentials, path, query or fragment"
        )
    host, sep, port = rest.partition(":")
    if not host or len(host) > 253 or not _HOST_RE.match(host):
        raise ValueError("is not https://host[:port] or host[:port]: the host is not a DNS name")
    if sep and (not port.isdigit() or not port.isascii() or not 1 <= int(port) <= 65535):
        raise ValueError("is not https://host[:port] or host[:port]: the port must be 1-65535")
    return value


def check_aws_region(value: str) -> str:
    if not _AWS_REGION_RE.match(value):
        raise ValueError(f"{_shown(value)} is not an AWS region name (e.g. 'eu-west-2')")
    return value


def check_role_arns(value: str) -> str:
    """One IAM role ARN, or a comma-separated chain of them (Neptune's role chaining)."""
    for arn in value.split(","):
        if not _ROLE_ARN_RE.match(arn.strip()):
            raise ValueError(
                f"{_shown(arn.strip())} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
            )
    return value


def check_choice(value: str, choices: Iterable[str]) -> str:
    """Case-insensitive match against an enumeration; returns the canonical spelling."""
    choices = tuple(choices)
    wanted = value.strip().lower()
    for choice in choices:
        if choice.lower() == wanted:
            return choice
    raise ValueError(f"must be one of {', '.join(choices)}; got {_shown(value)}")


def check_parser_configuration(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object, got {json_type_name(value)}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        expected = NEPTUNE_PARSER_CONFIGURATION_KEYS.get(key)
        if expected is None:
            raise ValueError(
                f"unknown parserConfiguration key {key!r} "
                f"(allowed: {', '.join(NEPTUNE_PARSER_CONFIGURATION_KEYS)})"
            )
        if type(item) is not expected:
            raise ValueError(f"{key}: expected {json_type_name(expected())}, got {json_type_name(item)}")
        out[key] = item
    return out
