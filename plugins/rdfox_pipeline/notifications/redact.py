"""Remove what looks like credentials from free text (error reasons) before it goes into a notification.

Error reasons come from exceptions, pod messages and logs: they may quote a URL with a password, a presigned
S3 URL, an AWS key pair or a ``password=...`` option. Notifications go to mailing lists, so anything that
looks like a credential is replaced, and so is every value the caller knows to be secret.

The text may quote a jobspec, a log or a long error body, so every pattern runs in time linear in its length:
a match starts only where a token starts (a lookbehind, not ``\\b``, which also fires inside ``a.b-c``), and
the runs that follow are possessive or atomic, so a failed match is never retried from inside a token. A
password in a URL is looked for over at most URL_PASSWORD_MAX characters (longer ones are no password).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
URL_PASSWORD_MAX = 1024

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # AWS access key ids (long-term AKIA, temporary ASIA, and the other documented prefixes).
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b"), REDACTED),
    # key=value / key: value where the key names a secret (JSON quotes allowed around both).
    (
        re.compile(
            r"""(?ix)
            (["']?(?<![\w.-])
               # up to the key's first keyword, then the rest of the key: atomic, so a key without "=" after
               # it is given up at once instead of being searched for a later keyword
               (?>[\w.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|
               credential|signature|license[_-]?content|authorization))[\w.-]*+["']?\s*+[:=]\s*+)
            (?!\[REDACTED\])(?:"[^"]*+"|'[^']*+'|Bearer\s++\S++|Basic\s++\S++|[^\s,;&'"}\]]++)
            """
        ),
        r"\1" + REDACTED,
    ),
    # Authorization headers written as "Authorization AWS4-HMAC-SHA256 Credential=..., Signature=...".
    (re.compile(r"(?i)\b(AWS4-HMAC-SHA256)\s++[^\n]*+"), r"\1 " + REDACTED),
    # user:password@ in URLs.
    (
        re.compile(
            rf"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*+://[^/\s:@]++):[^/\s@]{{1,{URL_PASSWORD_MAX}}}+@"
        ),
        r"\1:" + REDACTED + "@",
    ),
    # AWS secret access keys: 40 characters of base64 with mixed case and digits (not a hex digest).
    (
        re.compile(
            r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}"
            r"(?![A-Za-z0-9/+=])"
        ),
        REDACTED,
    ),
    # PEM private keys.
    (
        re.compile(
            r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----.*?(?:-----END [A-Z ]{0,40}PRIVATE KEY-----|$)", re.S
        ),
        REDACTED,
    ),
)

# Shorter "secrets" than this would blank out ordinary words (and are no secret anyway).
_MIN_SECRET_LENGTH = 4


def remove_values(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every given secret value replaced by ``[REDACTED]`` (longest first)."""
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret value and everything credential-shaped replaced by ``[REDACTED]``."""
    text = remove_values(text, secrets)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
