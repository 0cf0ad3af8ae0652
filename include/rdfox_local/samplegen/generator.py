"""Generate parties, addresses and transactions as N-Triples, deterministically from a seed.

Everything random comes from one ``random.Random(seed)``, uuids included, so the same options always give
byte-identical files. Suspicious parties carry ``prop:isSuspicious true`` (others ``false``); high-risk
parties get a ``prop:hasRiskTag`` and a high-risk address.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

from .vocabulary import (
    CITIES,
    CLASSES,
    ENTITIES,
    FIRST_NAMES,
    LAST_NAMES,
    ORG_SUFFIXES,
    PARTY_TYPES,
    PROPERTIES,
    RDF_TYPE,
    RDFS_LABEL,
    RISK_TAGS,
    STATES,
    STREETS,
    USAGES,
    XSD,
)


@dataclass(frozen=True)
class SampleOptions:
    transactions: int = 1000
    parties: int | None = None  # default: 10 % of the transactions (at least 2)
    suspicious_share: float = 0.02
    high_risk_share: float = 0.05
    end_date: dt.date = dt.date(2021, 6, 21)
    max_days_before: int = 5  # transaction dates fall in the days before end_date
    files: int = 1
    seed: int = 0

    def party_count(self) -> int:
        count = self.parties if self.parties is not None else self.transactions // 10
        return max(2, count)

    def validate(self) -> None:
        if self.transactions < 0:
            raise ValueError("transactions must be >= 0")
        if self.parties is not None and self.parties < 2:
            raise ValueError("parties must be >= 2 (a transaction needs two parties)")
        for name in ("suspicious_share", "high_risk_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.files < 1:
            raise ValueError("files must be >= 1")
        if self.max_days_before < 1:
            raise ValueError("max_days_before must be >= 1")


def _iri(base: str, local: str) -> str:
    return f"<{base}{local}>"


def _typed(value: str, datatype: str) -> str:
    return f'"{value}"^^<{XSD}{datatype}>'


def _plain(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bool(value: bool) -> str:
    return _typed("true" if value else "false", "boolean")


class _Generator:
    def __init__(self, options: SampleOptions) -> None:
        self.o = options
        # Reproducible sample data, not secrets: a seeded PRNG is the point.
        self.rng = random.Random(options.seed)  # noqa: S311  # nosec B311

    def uid(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4).hex

    def triple(self, s: str, p: str, o: str) -> str:
        return f"{s} {p} {o} ."

    def prop(self, name: str) -> str:
        return _iri(PROPERTIES, name)

    def address(self, lines: list[str], high_risk: bool) -> str:
        rng, t, p = self.rng, self.triple, self.prop
        address = _iri(ENTITIES, f"address_{self.uid()}")
        lines.append(t(address, f"<{RDF_TYPE}>", _iri(CLASSES, "Address")))
        lines.append(t(address, p("hasLine1"), _plain(f"{rng.randint(1, 9999)} {rng.choice(STREETS)}")))
        lines.append(
            t(address, p("hasLine2"), _plain("" if rng.random() < 0.8 else f"Suite {rng.randint(1, 999)}"))
        )
        lines.append(t(address, p("hasCity"), _plain(rng.choice(CITIES))))
        lines.append(t(address, p("hasState"), _plain(rng.choice(STATES))))
        lines.append(t(address, p("hasPostCode"), _plain(f"{rng.randint(0, 99999):05d}")))
        lines.append(t(address, p("hasCountry"), _plain("US")))
        lines.append(t(address, p("hasUsage"), _iri(ENTITIES, f"usage_{rng.choice(USAGES)}")))
        lines.append(t(address, p("isHighRisk"), _bool(high_risk)))
        return address

    def parties(self, lines: list[str]) -> list[str]:
        rng, t, p, o = self.rng, self.triple, self.prop, self.o
        count = o.party_count()
        suspicious = set(rng.sample(range(count), round(count * o.suspicious_share)))
        high_risk = set(rng.sample(range(count), round(count * o.high_risk_share)))
        parties = []
        for index in range(count):
            party = _iri(ENTITIES, f"party_{self.uid()}")
            kind = "ORG" if rng.random() < 0.1 else "IND"
            assert kind in PARTY_TYPES
            lines.append(t(party, f"<{RDF_TYPE}>", _iri(CLASSES, "Party")))
            lines.append(t(party, p("hasType"), _iri(ENTITIES, f"partyType_{kind}")))
            if kind == "IND":
                name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
                lines.append(t(party, p("hasFullName"), _plain(name)))
            else:
                name = f"{rng.choice(LAST_NAMES)}-{rng.choice(LAST_NAMES)} {rng.choice(ORG_SUFFIXES)}"
                lines.append(t(party, p("hasOrgName"), _plain(name)))
            lines.append(t(party, f"<{RDFS_LABEL}>", _plain(name)))
            lines.append(t(party, p("isInternal"), _bool(rng.random() < 0.55)))
            lines.append(t(party, p("isExited"), _bool(False)))
            lines.append(t(party, p("isSuspicious"), _bool(index in suspicious)))
            if index in high_risk:
                lines.append(t(party, p("hasRiskTag"), _iri(ENTITIES, f"riskTag_{rng.choice(RISK_TAGS)}")))
            lines.append(t(party, p("hasAddress"), self.address(lines, index in high_risk)))
            if parties and rng.random() < 0.04:
                lines.append(t(party, p("hasParent"), rng.choice(parties)))
            parties.append(party)
        return parties

    def transactions(self, lines: list[str], parties: list[str]) -> None:
        rng, t, p, o = self.rng, self.triple, self.prop, self.o
        end = dt.datetime.combine(o.end_date, dt.time())
        span = o.max_days_before * 86400
        for _ in range(o.transactions):
            tx = _iri(ENTITIES, f"transaction_{self.uid()}")
            originator, beneficiary = rng.sample(parties, 2)
            # Amounts as in the reference: four significant digits times a power of ten.
            amount = rng.randint(1000, 9999) * 10 ** rng.randint(3, 5)
            when = end - dt.timedelta(seconds=rng.randint(1, span))
            lines.append(t(tx, f"<{RDF_TYPE}>", _iri(CLASSES, "Transaction")))
            lines.append(t(tx, p("hasOriginator"), originator))
            lines.append(t(tx, p("hasBeneficiary"), beneficiary))
            lines.append(t(tx, p("hasAmount"), _typed(str(amount), "decimal")))
            lines.append(t(tx, p("hasDate"), _typed(when.strftime("%Y-%m-%dT%H:%M:%S"), "dateTime")))


def generate_lines(options: SampleOptions) -> list[list[str]]:
    """The N-Triples lines of each output file (shuffled, as real exports are)."""
    options.validate()
    gen = _Generator(options)
    lines: list[str] = []
    parties = gen.parties(lines)
    gen.transactions(lines, parties)
    gen.rng.shuffle(lines)
    files: list[list[str]] = [[] for _ in range(options.files)]
    for index, line in enumerate(lines):
        files[index % options.files].append(line)
    return files


def write_sample(out_dir: str | Path, options: SampleOptions) -> list[Path]:
    """Write ``part-0001.nt``... into ``out_dir``; returns the paths."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for number, lines in enumerate(generate_lines(options), 1):
        path = directory / f"part-{number:04d}.nt"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        written.append(path)
    return written
