"""redact() on hostile text: credentials are still found whatever surrounds them (the patterns were made
linear, see notifications/redact.py; bench/log_parse.py times them on megabytes of hostile text)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rdfox_pipeline.notifications.redact import REDACTED, URL_PASSWORD_MAX, redact

_PIECES = st.sampled_from(
    ["a", "-", ".", ":", "=", "'", '"', " ", "password", "token", "://", "@", "/", "AKIA", "-----BEGIN ",
     "PRIVATE KEY-----", "AWS4-HMAC-SHA256", "Bearer", "\n", "aA1+"]
)  # fmt: skip
_NOISE = st.lists(_PIECES, max_size=60).map("".join)


@settings(max_examples=200, deadline=None)
@given(before=_NOISE, after=_NOISE)
def test_credentials_are_redacted_whatever_surrounds_them(before: str, after: str) -> None:
    text = f"{before} db_password=Zq8vLx2Rt9 https://user:Pw9xYz7Qk@host/ AKIAABCDEFGHIJKLMNOP {after}"
    out = redact(text)
    for secret in ("Zq8vLx2Rt9", "Pw9xYz7Qk", "AKIAABCDEFGHIJKLMNOP"):
        assert secret not in out
    assert REDACTED in out


def test_a_key_is_found_after_a_long_token_and_a_url_password_up_to_the_bound() -> None:
    # A long token before the key must not stop the search (the key starts its own token).
    assert redact("x" * 50_000 + " token=abc123def") == "x" * 50_000 + " token=" + REDACTED
    password = "p" * URL_PASSWORD_MAX
    assert redact(f"s3+https://me:{password}@host/x") == f"s3+https://me:{REDACTED}@host/x"
