"""A stand-in for RDFox in emulator tests: ``fake_rdfox.py sandbox <root> "exec <script>"``.

Runs the generated script's commands far enough to look like RDFox: echo with $(tstamp) variables, writes one
triple per ``answer`` into the file ``set output`` names, prints CSV for count queries. An imported file that
contains the text ``FAIL-THE-REASONER`` makes it fail like ``set on-error stop`` would (exit 1);
``EAT-MEMORY`` makes it allocate until killed.
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "sandbox" or not argv[2].startswith("exec "):
        print(f"usage: RDFox sandbox <root> \"exec <script>\"; got {argv}")
        return 2
    script = Path(shlex.split(argv[2])[1])
    variables: dict[str, str] = {}
    output = "out"
    answer_format = ""
    for line in script.read_text().splitlines():
        words = shlex.split(line) if not line.startswith("SELECT") else [line]
        if not words:
            continue
        command = words[0]
        if command == "tstamp":
            variables[words[1]] = time.strftime("%d-%b-%Y %H:%M:%S")
        elif command == "echo":
            text = line[len("echo ") :]
            print(re.sub(r"\$\((\w+)\)", lambda m: variables.get(m[1], ""), text))
        elif command == "import":
            content = Path(words[1]).read_text(errors="replace")
            if "FAIL-THE-REASONER" in content:
                print(f"Error: file '{words[1]}' could not be imported: syntax error at line 1")
                return 1
            if "EAT-MEMORY" in content:
                hog = []
                while True:
                    hog.append(bytearray(50 * 2**20))
                    time.sleep(0.05)
            print(f"Adding data in file '{words[1]}'.")
        elif command == "set" and words[1] == "output":
            output = words[2]
        elif command == "set" and words[1] == "query.answer-format":
            answer_format = words[2]
        elif command == "answer":
            if answer_format == "text/csv":
                print("chainCount\n1")
            elif output != "out":
                Path(output).write_text(f"<urn:answer:{Path(words[1]).stem}> <urn:p> <urn:o> .\n")
                print("Number of query answers:   1")
        elif line.startswith("SELECT"):
            name = re.search(r"\?(\w+)\)", line)[1]
            print(f"{name}\n3")
        elif command == "info":
            print("Aggregate number of explicit facts : 3")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
