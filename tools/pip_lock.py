"""Turns the JSON report of `pip install --report` into a lock file: one `name==version --hash=sha256:...` line per
distribution pip chose, so that `pip install --no-deps --require-hashes -r LOCK` installs exactly those files again.

    python3 tools/pip_lock.py REPORT.json --header "text" > tools/images/keystone.lock
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any


def _normalized(name: str) -> str:
    # PEP 503: the form pip compares names in, so the lock sorts and diffs stably.
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for item in report.get("install", []):
        meta = item["metadata"]
        hashes = item.get("download_info", {}).get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            # A directory or VCS requirement has no archive to pin: the lock would not be reproducible.
            raise SystemExit(f"{meta['name']}: pip reported no sha256 for it; only index archives can be locked")
        lines.append(f"{_normalized(meta['name'])}=={meta['version']} --hash=sha256:{hashes['sha256']}")
    return sorted(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--header", action="append", default=[], help="a comment line to put first, repeated")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    out = [f"# {line}" for line in args.header] + lock_lines(report)
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
