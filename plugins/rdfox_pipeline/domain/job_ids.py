"""Job ids: ``<DATASET><d><YYYY-MM-DD><d><NNN>`` with ``d`` the JOB_ID_DELIMETER setting."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

DEFAULT_DELIMITER = "_"
_SEQ_RE = re.compile(r"^\d{3,}$")


@dataclass(frozen=True, order=True)
class JobId:
    dataset: str
    day: date
    seq: int

    def sort_key(self, delim: str = DEFAULT_DELIMITER) -> str:
        """The DynamoDB sort key: ``<date><d><NNN>``."""
        return f"{self.day.isoformat()}{delim}{self.seq:03d}"

    def format(self, delim: str = DEFAULT_DELIMITER) -> str:
        return f"{self.dataset}{delim}{self.sort_key(delim)}"


def format_job_id(dataset: str, day: date, seq: int, delim: str = DEFAULT_DELIMITER) -> str:
    if not dataset or delim in dataset:
        raise ValueError(
            f"dataset {dataset!r} must be non-empty and must not contain the delimiter {delim!r}"
        )
    if seq < 0:
        raise ValueError(f"job sequence number must be >= 0, got {seq}")
    return JobId(dataset, day, seq).format(delim)


def parse_job_id(text: str, delim: str = DEFAULT_DELIMITER) -> JobId:
    """Parse a job id; the error says which part is wrong."""
    if not delim:
        raise ValueError("job id delimiter must not be empty")
    parts = text.split(delim)
    if len(parts) != 3:
        raise ValueError(
            f"job id {text!r} must look like <DATASET>{delim}<YYYY-MM-DD>{delim}<NNN> "
            f"(found {len(parts)} parts separated by {delim!r})"
        )
    dataset, day_text, seq_text = parts
    if not dataset:
        raise ValueError(f"job id {text!r} has an empty dataset")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise ValueError(f"job id {text!r} has an invalid date {day_text!r} (expected YYYY-MM-DD)") from None
    if len(day_text) != 10:
        raise ValueError(f"job id {text!r} has an invalid date {day_text!r} (expected YYYY-MM-DD)")
    if not _SEQ_RE.match(seq_text):
        raise ValueError(f"job id {text!r} has an invalid sequence {seq_text!r} (expected at least 3 digits)")
    return JobId(dataset, day, int(seq_text))
