"""Stands in for RDFox in the OOM scenario: allocates (and touches) memory until the emulator kills it."""

from __future__ import annotations

import sys
import time


def main() -> int:
    print(f"memory hog: started with {sys.argv[1:]}", flush=True)
    hog = []
    for _ in range(1000):  # 16 GiB at most: a broken memory watch still ends, and the test then fails
        hog.append(b"\x01" * (16 * 2**20))
        time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
