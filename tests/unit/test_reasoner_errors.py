"""Rules the engine cannot run fail loudly: unsupported constructs at file:line, unstratifiable
programs naming the rules."""

from __future__ import annotations

import pytest
from rdfox_local.reasoner.api import reason
from rdfox_local.reasoner.errors import RuleSyntaxError, StratificationError
from rdfox_local.reasoner.parser import parse_rule_file

P = "PREFIX ex: <http://ex/>\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (P + "ex:q[?x] :-\n  ex:p[?x, ?y],\n  OPTIONAL ex:r[?x] .\n", 4, "OPTIONAL"),
        (P + "ex:q[?x] :- ex:p[?x, ?y], MINUS ex:r[?x] .\n", 2, "MINUS"),
        (P + "ex:q[?x] :- ex:p(?x, ?y) .\n", 2, "tuple-table"),
        (P + "\nex:q[?x] :- [?x, ex:p, ?y, ex:g] .\n", 3, "named-graph"),
        (P + "ex:q[?x, ?z] :- ex:p[?x, ?y],\n  BIND(FOO(?y) AS ?z) .\n", 3, "FOO"),
        (P + "ex:q[?x, ?z] :- ex:p[?x, ?y], BIND(<http://f/g>(?y) AS ?z) .\n", 2, "<http://f/g>"),
        (
            P + "ex:q[?x, ?z] :- AGGREGATE(ex:p[?x, ?y] ON ?x BIND GROUP_CONCAT(?y) AS ?z) .\n",
            2,
            "GROUP_CONCAT",
        ),
        (P + "ex:q[?x, ?z] :- ex:p[?x, ?y] .\n", 2, "?z must be bound"),
        (P + "ex:q[?x] :- ex:p[?x, ?y], FILTER(?z > 1) .\n", 2, "?z"),
        (P + "\n\nfoo:q[?x] :- ex:p[?x, ?y] .\n", 4, "undeclared prefix 'foo:'"),
        (P + "ex:q[?x] :- ex:p[?x, ?y]\n", 3, "expected '.' but found end of file"),
        (P + "ex:q[?x] :- ex:p[?x, ?y] & ex:r[?x] .\n", 2, "unexpected character '&'"),
        (P + "ex:q[?x] :- ex:p[?x, ?y], FILTER(STRLEN(?y, ?x) > 1) .\n", 2, "STRLEN takes 1"),
        (P + "ex:q[?x, ?y] .\n", 2, "a fact cannot contain variables"),
        (P + "@import <other.dlog> .\n", 2, "@import"),
    ],
)
def test_unsupported_or_invalid_rules_name_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        reason(text, path="/data/rules.dlog")
    error = caught.value
    assert (error.path, error.line) == ("/data/rules.dlog", line)
    assert str(error).startswith(f"/data/rules.dlog:{line}")
    assert words in str(error)


def test_an_unstratifiable_negation_names_the_rules_in_the_cycle() -> None:
    rules = P + (
        "ex:base[?x] :- ex:input[?x] .\nex:p[?x] :- ex:q[?x], NOT ex:r[?x] .\nex:r[?x] :- ex:p[?x] .\n"
    )
    with pytest.raises(StratificationError) as caught:
        reason(rules, path="chains.dlog")
    message = str(caught.value)
    assert "not stratifiable" in message
    assert "chains.dlog:3" in message and "chains.dlog:4" in message
    assert "chains.dlog:2" not in message  # the harmless rule is not blamed


def test_aggregation_through_recursion_is_unstratifiable() -> None:
    rules = P + (
        "ex:count[?x, ?n] :- AGGREGATE(ex:d[?x, ?y] ON ?x BIND COUNT(?y) AS ?n) .\n"
        "ex:d[?x, ?n] :- ex:count[?x, ?n] .\n"
    )
    with pytest.raises(StratificationError, match=r"<rules>:2.*<rules>:3|<rules>:3.*<rules>:2"):
        reason(rules)


def test_negation_of_an_unrelated_class_is_stratifiable() -> None:
    # [?x, a, ex:A] and [?x, a, ex:B] are different facts: no cycle through NOT between them.
    rules = P + "ex:A[?x] :- ex:C[?x], NOT ex:B[?x] .\nex:B[?x] :- ex:D[?x], ex:A[?x] .\n"
    with pytest.raises(StratificationError):
        reason(rules)  # B reads A and A negates B: a real cycle
    fine = P + "ex:A[?x] :- ex:C[?x], NOT ex:B[?x] .\nex:E[?x] :- ex:D[?x], ex:A[?x] .\n"
    reason(fine)


def test_rule_file_errors_use_the_display_path(tmp_path) -> None:
    path = tmp_path / "bad.dlog"
    path.write_text(P + "ex:q[?x] :- ex:p[?x, ?y], UNION .\n", encoding="utf-8")
    with pytest.raises(RuleSyntaxError, match=r"^/data/bad\.dlog:2:"):
        parse_rule_file(path, display_path="/data/bad.dlog")
    path.write_bytes(b"# ok\n\xff\xfe\n")
    with pytest.raises(RuleSyntaxError, match=r"^/data/bad\.dlog:2: not UTF-8"):
        parse_rule_file(path, display_path="/data/bad.dlog")
