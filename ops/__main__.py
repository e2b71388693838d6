"""`python -m ops <command> [options]`: dispatch to the module that implements the command.

Adding a command is one entry in COMMANDS: a module with ``main(argv: list[str]) -> int``. Modules are
imported only when their command runs, so one command never pays for another's SDKs.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "smoke": ("ops.smoke", "run one job or Data Factory pipeline of a deployed stage and wait for its result"),
    "export-linked-services": ("ops.export_linked_services",
                               "write the program's linked services into factory/ with a deployed stage's values"),
    "pr-comment": ("ops.pr_comment", "put a Markdown file into a section of the pull request's one comment"),
}
USAGE_ERROR = 2


def usage() -> str:
    lines = ["usage: python -m ops <command> [options]   (python -m ops <command> --help for its options)", ""]
    lines += [f"  {name:<10} {summary}" for name, (_module, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(usage(), file=sys.stderr)
        return USAGE_ERROR
    if argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, *rest = argv
    if name not in COMMANDS:
        print(f"ops: unknown command {name!r}; known commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return USAGE_ERROR
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
