"""Internal: plan several stacks of one program in this interpreter and print them as one JSON document.

Where the platform cannot fork safely (anything but Linux), `--against` runs it in the base ref's
temporary worktree, so that program imports its own modules, not the working tree's (on Linux a fork
of the CLI, that forgets the working tree's modules, writes the same document). Not a user interface:
`{"<stack>": {"plan": <plan> | null, "problems": [...]}}` may change with the CLI that starts it. Exit
status 0 whenever that document was written.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import Any, TextIO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline_plan.worker")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--fill-computed", action="store_true")
    parser.add_argument("stacks", nargs="+")
    args = parser.parse_args(argv)
    from offline_plan.runner import plan_stacks  # after the collector is off (see below)

    write_document(plan_stacks(args.dir, args.stacks, fill_computed=args.fill_computed), sys.stdout)
    return 0


def write_document(results: list[Any], output: TextIO) -> None:
    json.dump({r.stack: {"plan": r.plan, "problems": r.problems} for r in results}, output, sort_keys=True)
    output.flush()


if __name__ == "__main__":
    # As in offline_plan/__main__.py: the collector costs more than a second here and frees little.
    gc.disable()
    status = main()
    gc.freeze()
    raise SystemExit(status)
