"""The RDFox shell subset that the prepare step's script uses (docs/ARCHITECTURE.md "The RDFox script").

Output mimics RDFox 5's (see ../shared/reference/rdfox-5-reference-run.log) so that the rdfox.log parser
reads it unchanged. An unknown or unsupported command is an error at ``script:line``; with
``set on-error stop`` the first error ends the run with exit status 1 (the default ``continue`` goes on, as
RDFox does).
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from . import ENGINE_BANNER
from .answers import answer_query
from .datastore import DataStore
from .errors import ReasonerError
from .evaluation import Mode
from .pathmap import PathMap

TSTAMP_FORMAT = "%d-%b-%Y %H:%M:%S"
_VAR_RE = re.compile(r"\$\(([A-Za-z0-9_.\-]+)\)")
_QUERY_START = re.compile(r"^\s*(SELECT|CONSTRUCT|ASK|DESCRIBE|PREFIX|BASE)\b", re.I)
_QUERY_FORM = re.compile(r"\b(SELECT|CONSTRUCT|ASK|DESCRIBE)\b", re.I)
_KNOWN_SETTINGS = {
    "on-error",
    "output",
    "query.answer-format",
    "query.fact-domain",
    "dir.output",
    "dir.queries",
    "dir.scripts",
    "dir.root",
    "dir.facts",
    "dir.dlog",
    "log-frequency",
    "query.planning-algorithms",
    "query.explain",
    "query.delete-output-if-answer-empty",
    "query.print-statistics",
    "query.print-summary",
    "reasoning.mode",
}
_RULE_EXTENSIONS = (".dlog",)


class StopScript(Exception):
    """``quit`` or an error under ``on-error stop``."""


class CommandError(ReasonerError):
    pass


class Shell:
    def __init__(
        self,
        root: str,
        out: TextIO,
        path_map: PathMap | None = None,
        mode: Mode = "semi-naive",
        clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.root = root
        self.out = out
        self.path_map = path_map or PathMap()
        self.clock = clock
        self.mode = mode
        self.vars: dict[str, str] = {
            "on-error": "continue",
            "output": "out",
            "query.answer-format": "text/csv",
            "query.fact-domain": "all",
            "dir.root": root.rstrip("/") + "/",
            "dir.output": "",
            "dir.queries": "",
            "dir.scripts": "",
            "reasoning.mode": mode,
        }
        self.stores: dict[str, DataStore] = {}
        self.active: DataStore | None = None
        self.prefixes: dict[str, str] = {}
        self.base: str | None = None  # resolves relative IRIs in rule files imported afterwards
        self.in_transaction = False
        self.errors = 0
        self.exit_status = 0

    # -- output ---------------------------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- running --------------------------------------------------------------------------------------------
    def run_commands(self, commands: list[str], source: str = "<command line>") -> int:
        """Run top-level commands (each a whole shell command); returns the exit status."""
        self.say(ENGINE_BANNER)
        try:
            for number, command in enumerate(commands, 1):
                self.run_line(command, source, number)
        except StopScript:
            pass
        return self.exit_status

    def run_script(self, local_path: Path, display: str) -> None:
        try:
            text = local_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read script {display!r}: {exc.strerror or exc}") from exc
        for number, line in enumerate(text.splitlines(), 1):
            self.run_line(line, display, number)

    def run_line(self, line: str, source: str, number: int) -> None:
        text = line.strip()
        if not text or text.startswith("#"):
            return
        try:
            if _is_query(text):
                self.cmd_query(self.substitute(text))
                return
            expanded = self.substitute(text)
            name, _, rest = expanded.partition(" ")
            handler = (
                getattr(self, "cmd_" + name.replace("-", "_"), None)
                if name.isidentifier() or "-" in name
                else None
            )
            if handler is None or name in ("query",):
                raise CommandError(f"unknown or unsupported command {name!r}")
            handler(rest.strip())
        except StopScript:
            raise
        except (ReasonerError, ValueError, OSError) as exc:
            self.errors += 1
            self.say(f"ERROR: {source}:{number}: {exc}")
            if self.vars["on-error"] in ("stop", "exit"):
                self.exit_status = 1
                raise StopScript from exc

    def substitute(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.vars:
                raise CommandError(f"undefined shell variable $({name})")
            return self.vars[name]

        return _VAR_RE.sub(value, text)

    # -- paths ----------------------------------------------------------------------------------------------
    def resolve(self, path: str, directory_var: str | None) -> tuple[Path, str]:
        """(local path, the path as the script names it): relative paths use dir.* then the sandbox root."""
        if not posixpath.isabs(path):
            base = (
                (self.vars.get(directory_var or "", "") or self.vars["dir.root"])
                if directory_var
                else self.vars["dir.root"]
            )
            path = posixpath.join(base, path)
        return Path(self.path_map.map(path)), path

    def store(self) -> DataStore:
        if self.active is None:
            raise CommandError("no data store is active (use 'dstore create' and 'active')")
        return self.active

    # -- commands -------------------------------------------------------------------------------------------
    def cmd_set(self, rest: str) -> None:
        parts = shlex.split(rest)
        if len(parts) != 2:
            raise CommandError("usage: set NAME VALUE")
        name, value = parts
        if name not in _KNOWN_SETTINGS:
            raise CommandError(f"unknown shell variable {name!r}")
        if name == "on-error" and value not in ("stop", "continue", "exit"):
            raise CommandError(f"on-error must be 'stop' or 'continue', not {value!r}")
        if name == "query.fact-domain" and value not in ("explicit", "derived", "all"):
            raise CommandError(f"query.fact-domain must be explicit, derived or all, not {value!r}")
        if name == "reasoning.mode":
            if value not in ("semi-naive", "naive"):
                raise CommandError("reasoning.mode must be 'semi-naive' or 'naive'")
            self.mode = value  # type: ignore[assignment]
            for store in self.stores.values():
                store.mode = self.mode
        self.vars[name] = value
        self.say(f'{name} = "{value}"')

    def cmd_dstore(self, rest: str) -> None:
        parts = shlex.split(rest)
        if len(parts) < 2 or parts[0] != "create":
            raise CommandError("unsupported dstore command (only 'dstore create NAME [type TYPE]')")
        name, options = parts[1], parts[2:]
        store_type = "parallel-nw"
        if options:
            store_type = options[1] if options[0] == "type" and len(options) > 1 else options[0]
        if store_type in ("par-complex-nw", "par-complex-ww", "seq"):
            raise CommandError(
                f"data store type {store_type!r} is not supported since RDFox 6.0; use 'parallel-nw'"
            )
        if name in self.stores:
            raise CommandError(f"a data store named {name!r} already exists")
        self.stores[name] = DataStore(name, store_type, self.mode)
        self.say(f"A new data store '{name}' was created and initialized.")

    def cmd_active(self, rest: str) -> None:
        name = rest.strip().strip('"')
        if name not in self.stores:
            raise CommandError(f"no data store named {name!r}")
        self.active = self.stores[name]
        self.say(f"Data store connection '{name}' is active.")

    def cmd_prefix(self, rest: str) -> None:
        match = re.fullmatch(r"([A-Za-z][\w.\-]*)?:\s*<([^<>\s]*)>", rest.strip())
        if not match:
            raise CommandError("usage: prefix p: <iri>")
        label = match.group(1) or ""
        self.prefixes[label] = match.group(2)
        self.say(f"Prefix name '{label}:' was declared as <{match.group(2)}>.")

    def cmd_tstamp(self, rest: str) -> None:
        name = rest.strip()
        if not name:
            raise CommandError("usage: tstamp VARIABLE")
        self.vars[name] = self.clock().strftime(TSTAMP_FORMAT)

    def cmd_begin(self, rest: str) -> None:
        store = self.store()
        if self.in_transaction:
            raise CommandError("a transaction is already open")
        self.in_transaction = True
        self.say(f"A read/write transaction has been started on data store connection '{store.name}'.")

    def cmd_commit(self, rest: str) -> None:
        store = self.store()
        if not self.in_transaction:
            raise CommandError("no transaction is open")
        if not store.materialised:  # RDFox 7 reasons at commit
            self._materialise(store)
        self.in_transaction = False
        self.say(f"The transaction on data store connection '{store.name}' has been committed.")

    def cmd_rollback(self, rest: str) -> None:
        raise CommandError("unsupported command 'rollback' (the local reasoner cannot undo imports)")

    def cmd_import(self, rest: str) -> None:
        store = self.store()
        paths = [p for p in shlex.split(rest) if p != "+"]
        if not paths or any(p.startswith(("-", ">")) for p in paths):
            raise CommandError(
                "usage: import FILE... (adding only; '-' and named-graph targets are not supported)"
            )
        for path in paths:
            local, display = self.resolve(path, None)
            self.say(f"Adding data in file '{display}'.")
            if display.lower().endswith(_RULE_EXTENSIONS):
                result = store.import_rules(local, display, self.prefixes, self.base)
            else:
                result = store.import_data(local, display)
            self.say(f"Import operation took {result.seconds:.3g} s.")
            self.say(f"Processed {result.processed} {result.kind}, of which {result.updated} were updated.")
        if not self.in_transaction:
            self._materialise(store)

    def cmd_mat(self, rest: str) -> None:
        self._materialise(self.store())

    def _materialise(self, store: DataStore) -> None:
        before_entries, before_edb = store.idb_count, store.edb_count
        self.say("Materializing rules.")
        self.say("Rules will be processed by strata.")
        stats = store.materialise()
        self.say(f"Materialization time:      {stats.seconds:.3f} s.")
        rule = "-" * 122
        self.say(rule)
        self.say(f"{'Table':<49}|  {'Entries':<28}|  {'EDB':<18}|  IDB")
        self.say(rule)
        self.say(
            f"{'http://oxfordsemantic.tech/RDFox#DefaultTriples':<49}|  "
            f"{f'{before_entries:,} -> {store.idb_count:,}':<28}|  "
            f"{f'{before_edb:,} -> {store.edb_count:,}':<18}|  "
            f"{before_entries:,} -> {store.idb_count:,}"
        )
        self.say(rule)
        self.say(
            f"Evaluation: {stats.mode}, {stats.rules} rules in {stats.strata} strata, {stats.rounds} rounds, "
            f"{stats.derived:,} facts derived ({stats.derivations:,} derivations)."
        )

    def cmd_echo(self, rest: str) -> None:
        self.say(rest)

    def cmd_answer(self, rest: str) -> None:
        store = self.store()
        paths = shlex.split(rest)
        if not paths:
            raise CommandError("usage: answer FILE...")
        for path in paths:
            local, display = self.resolve(path, "dir.queries")
            try:
                query = local.read_text(encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot read query file {display!r}: {exc.strerror or exc}") from exc
            self._answer(store, query, display)

    def cmd_query(self, text: str) -> None:
        self._answer(self.store(), text, None)

    def _answer(self, store: DataStore, query: str, display: str | None) -> None:
        started = time.perf_counter()
        output = self.vars["output"]
        if output != "out" and display is not None:
            self.say(f"Answering query from file:   {display}")
        try:
            answer = answer_query(
                store, query, self.vars["query.answer-format"], self.vars["query.fact-domain"], self.prefixes
            )
        except ReasonerError as exc:
            raise CommandError(f"{display or 'query'}: {exc}") from exc
        if answer.note:
            self.say(answer.note)
        if output == "out":
            # Some serialisers (SPARQL results JSON) end without a newline: the next log line must not
            # run on from the answer.
            self.out.write(
                answer.text if not answer.text or answer.text.endswith("\n") else answer.text + "\n"
            )
        else:
            local, shown = self.resolve(output, "dir.output")
            self.say(f'Output will be printed to file "{shown}".')
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(answer.text, encoding="utf-8")
        self.say(f"Number of returned tuples:   {answer.count}")
        self.say(f"Total number of answers:     {answer.count}")
        self.say(f"Total statement evaluation time: {time.perf_counter() - started:.3g} s")
        if store.skipped_generalised:
            self.say(
                f"Note: {store.skipped_generalised} derived facts are not RDF (literal subjects) "
                "and are not queryable."
            )

    def cmd_info(self, rest: str) -> None:
        store = self.store()
        size = store.facts.memory_bytes()
        entries = store.idb_count
        rows = [
            ("Name", store.name),
            ("Data store type", store.store_type),
            ("Engine", ENGINE_BANNER),
            ("Concurrent", "no"),
            ("Persistent", "no"),
            ("Equality axiomatization mode", "off"),
            ("Aggregate size", _count(size)),
            ("Aggregate number of entries", _count(entries)),
            ("Bytes per entry", f"{(size / entries if entries else 0):>15.3f}"),
            ("Aggregate number of EDB facts", _count(store.edb_count)),
            ("Aggregate number of IDB facts", _count(entries)),
            ("Number of rules", _count(len(store.program.rules))),
        ]
        self.say("")
        self.say("")
        self.say("  ::RDFStore")
        self.say("-" * 69)
        for label, value in rows:
            self.say(f"    {label:<31}:  {value}")

    def cmd_quit(self, rest: str) -> None:
        raise StopScript

    cmd_exit = cmd_quit

    def cmd_exec(self, rest: str) -> None:
        parts = shlex.split(rest)
        if not parts:
            raise CommandError("Script name is missing.")
        local, display = self.resolve(parts[0], "dir.scripts")
        self.run_script(local, display)

    def cmd_endpoint(self, rest: str) -> None:
        if rest.split()[:1] != ["start"]:
            raise CommandError("unsupported endpoint command (only 'endpoint start')")
        self.say("endpoint start: acknowledged; the local reasoner serves no REST endpoint.")

    def cmd_base(self, rest: str) -> None:
        match = re.fullmatch(r"<([^<>\s]*)>", rest.strip())
        if not match or ":" not in match.group(1):
            raise CommandError("usage: base <absolute-iri>")
        self.base = match.group(1)
        self.say(f"Base was set to <{self.base}>.")


def _is_query(text: str) -> bool:
    """A SPARQL query typed as a command. ``prefix p: <iri>`` and ``base <iri>`` alone are shell commands;
    ``PREFIX p: <iri> SELECT ...`` is a query."""
    if not _QUERY_START.match(text):
        return False
    return not re.match(r"(?i:prefix|base)\b", text) or bool(_QUERY_FORM.search(text))


def _human(value: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:5.1f} {unit}"
    return f"{value:3d}    "


def _count(value: int) -> str:
    return f"{value:>15,}     ({_human(value)})"
