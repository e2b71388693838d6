"""What registering one secret with clients.redaction costs, and what masking a log line then costs.

Every Entra ID token and PAT the provider sees is registered (REDACTOR.add) so that no fragment of it reaches a
log or an error. Fragment matching keeps every 8-character run of each form of the value; a hostile reply with
a 1 MB "token" once cost ~150 MB that way. Runs are now kept for the first and last 8 KiB of each form only
(the whole form is still masked wherever it appears in full), so the cost stops growing past ~16 KiB.

Prints, per value length: registration time, peak and retained memory (tracemalloc), and the time to redact
a 100 KB text that quotes 3,000 characters of the value; "capped" is the module as it is, "uncapped" the same
code with the span lifted (the former behaviour; skipped above 256 KiB, where it costs hundreds of MB).

Run from the repo root: .venv/bin/python benchmarks/redaction_cost.py
"""

from __future__ import annotations

import secrets
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clients import redaction

LENGTHS = (40, 2_000, 16_384, 65_536, 262_144, 1_048_576)
UNCAPPED_UP_TO = 262_144


def measure(value: str) -> tuple[float, float, float, float]:
    """(add ms, peak MiB, kept MiB, redact ms) for one value in a fresh Redactor."""
    redactor = redaction.Redactor()
    tracemalloc.start()
    started = time.perf_counter()
    redactor.add(value)
    added = time.perf_counter() - started
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    text = "ordinary words " * 6_500 + value[:3_000] + " end"
    started = time.perf_counter()
    masked = redactor(text)
    redacted = time.perf_counter() - started
    assert value[:3_000] not in masked
    return added * 1000, peak / 2**20, kept / 2**20, redacted * 1000


def main() -> None:
    header = f"{'length':>9} | {'capped: add ms':>14} {'peak MiB':>9} {'kept MiB':>9} {'redact ms':>9} | " \
             f"{'uncapped: add ms':>16} {'peak MiB':>9} {'kept MiB':>9} {'redact ms':>9}"
    print(header)
    print("-" * len(header))
    for length in LENGTHS:
        value = secrets.token_urlsafe(length)[:length]
        capped = measure(value)
        if length <= UNCAPPED_UP_TO:
            span = redaction._FRAGMENT_SPAN
            redaction._FRAGMENT_SPAN = 1 << 40
            try:
                uncapped = "{:>16.0f} {:>9.1f} {:>9.1f} {:>9.0f}".format(*measure(value))
            finally:
                redaction._FRAGMENT_SPAN = span
        else:
            uncapped = f"{'(skipped)':>16} {'':>9} {'':>9} {'':>9}"
        print(f"{length:>9} | {capped[0]:>14.0f} {capped[1]:>9.1f} {capped[2]:>9.1f} {capped[3]:>9.0f} | {uncapped}")


if __name__ == "__main__":
    main()
