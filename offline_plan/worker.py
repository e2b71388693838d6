"""Internal: plan several stacks of one program in this interpreter and print them as one JSON document.

`--against` runs it in the base ref's temporary worktree, so that program imports its own modules,
not the working tree's. Not a user interface: `{"<stack>": {"plan": <plan> | null, "problems": [...]}}`
may change with the CLI that starts it. Exit status 0 whenever that document was written.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline_plan.worker")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--fill-computed", action="store_true")
    parser.add_argument("stacks", nargs="+")
    args = parser.parse_args(argv)
    from offline_plan.runner import plan_stacks  # after the collector is off (see below)

    results = plan_stacks(args.dir, args.stacks, fill_computed=args.fill_computed)
    json.dump({r.stack: {"plan": r.plan, "problems": r.problems} for r in results}, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    # As in offline_plan/__main__.py: the collector costs more than a second here and frees little.
    gc.disable()
    status = main()
    gc.freeze()
    raise SystemExit(status)
