"""Find inputs that look like a credential in plain text, with few false alarms.

Two signals, each specific enough to stay quiet on ordinary values:
- the value's shape: a Databricks PAT, an Entra ID client secret, a storage account key, a SAS token, a
  connection string with a key or password, a private key, a JWT;
- the input's name says it holds a credential (``password``, ``clientSecret``, ``accessToken``, ...), or it
  is a Data Factory ``SecureString``, and its value is a literal rather than a reference.
References are never findings: Data Factory expressions (``@...``), Key Vault references (an
``AzureKeyVaultSecret`` object, ``@Microsoft.KeyVault(...)``, a vault secret URI), Databricks secret
references (``{{secrets/<scope>/<key>}}``), pipeline variables (``$(...)``, ``${...}``) and masked values.
Findings name the input path and the kind of credential, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy.resource_types import VAULT_SECRET
from policy.values import PLAN_SECRET, UNKNOWN

# Where a secret value belongs: the vault. Pulumi keeps that input encrypted (the PAT arrives there as a
# secret), but pulumi-policy's Python SDK shows secrets to rules in plain text, so the rule must not look.
SECRET_HOMES: frozenset[tuple[str, tuple[str, ...]]] = frozenset({
    (VAULT_SECRET, ("value",)),
})

_CONNECTION_PASSWORD = "a password in a connection string"
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Databricks personal access token", re.compile(r"\bdapi[0-9a-f]{32}(?:-\d+)?\b")),
    ("a bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{16,}")),
    # Entra ID client secrets since 2021: three characters, a digit, "Q~", then 31-34 more.
    ("an Entra ID client secret",
     re.compile(r"(?<![\w~.-])[\w~.-]{3}\dQ~[\w~.-]{31,34}(?![\w~.-])", re.ASCII)),
    ("a storage account key", re.compile(r"AccountKey=[A-Za-z0-9+/]{86}==", re.IGNORECASE)),
    ("a storage account key", re.compile(r"^[A-Za-z0-9+/]{86}==$")),
    ("a shared access key", re.compile(r"SharedAccessKey=[A-Za-z0-9+/]{40,}={0,2}", re.IGNORECASE)),
    ("a SAS token", re.compile(r"(?=.*\bsv=\d{4}-\d{2}-\d{2})(?=.*\bsig=[A-Za-z0-9%+/=]{16,})", re.DOTALL)),
    # A password in a connection string, unless it is empty, masked or a template's placeholder (ODBC quotes a
    # password in braces: `Pwd={S3cr3t!}` is a password).
    (_CONNECTION_PASSWORD,
     re.compile(r"(?:^|;)\s*(?:password|pwd)\s*=\s*(?!\s*(?:;|$|\{\{|\$\{|\$\(|\*))[^;]+", re.IGNORECASE)),
    ("a private key", re.compile(r"-----BEGIN(?: [A-Z0-9]+)* PRIVATE KEY-----")),
    ("a JSON Web Token", re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}", re.ASCII)),
)

# Input names (compared without case, dashes or underscores) that hold a credential.
_CREDENTIAL_NAMES = frozenset({
    "password", "clientsecret", "accountkey", "sastoken", "accesstoken", "serviceprincipalkey", "apikey",
    "sharedaccesskey", "secret", "token", "pat", "xapikey", "authorization",
})
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_WORDS = re.compile(r"[a-z][a-z0-9]*(?:[-_./][a-z0-9]+)+")
_RANDOM_PART = re.compile(r"(?=[a-z0-9]*[a-z])(?=[a-z0-9]*[0-9])[a-z0-9]{8,}")


def _names_a_secret(value: str) -> bool:
    """A GUID, or lower-case words joined by - _ . / (`databricks-pat`, `kv-scope/sql-password`): what names
    or ids a secret rather than holding one. A random-looking part (`…-secret-1a2b3c4d`) makes it a secret."""
    if _GUID.fullmatch(value):
        return True
    return bool(_WORDS.fullmatch(value)) and not any(
        _RANDOM_PART.fullmatch(part) for part in re.split(r"[-_./]", value))
_REFERENCE = re.compile(
    r"^\s*(?:@|\{\{\s*secrets/|\$\(|\$\{|\*+\s*$)|https://[^/\s]+\.vault\.(?:azure\.net|usgovcloudapi\.net|"
    r"azure\.cn)/secrets/",
    re.IGNORECASE,
)
# A literal under a credential name shorter than this is a flag or a placeholder, not a credential.
_MIN_CREDENTIAL_LENGTH = 8


@dataclass(frozen=True)
class Finding:
    path: tuple[str | int, ...]
    """Where in the inputs, e.g. ("tasks", 0, "notebookTask", "baseParameters", "token")."""
    kind: str
    """What it looks like, e.g. "a Databricks personal access token"."""


def find_plaintext_secrets(inputs: Any, *, resource_type: str) -> list[Finding]:
    """Every input of one resource that looks like a credential in plain text (at most one per path)."""
    homes = {path for type_, path in SECRET_HOMES if type_ == resource_type}
    return list(_walk(inputs, (), homes))


def _walk(value: Any, path: tuple[str | int, ...], homes: set[tuple[str, ...]]) -> Iterator[Finding]:
    if path in homes or value is UNKNOWN:
        return
    if isinstance(value, dict):
        if str(value.get("type", "")).lower() == "securestring":
            # A SecureString's literal, as a value or as a parameter's default, is plain text in the factory.
            for key in ("value", "defaultValue"):
                if _is_literal(value.get(key)):
                    yield Finding((*path, key), "an inline SecureString")
                    return
        for key, item in value.items():
            # "__provider" and the like are the engine's, not the user's (the engine does not send them).
            if isinstance(key, str) and key.startswith("__"):
                continue
            yield from _walk(item, (*path, key), homes)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index), homes)
        return
    if not isinstance(value, str) or value == PLAN_SECRET:
        return
    yield from (Finding(path, kind) for kind in shapes_in(value)[:1])
    name = path[-1] if path and isinstance(path[-1], str) else ""
    if (_normalised(name) in _CREDENTIAL_NAMES and _is_literal(value) and len(value) >= _MIN_CREDENTIAL_LENGTH
            and not shapes_in(value) and not _names_a_secret(value.strip())):
        yield Finding(path, f"a credential (the input is named {name!r})")


def shapes_in(text: str) -> list[str]:
    """What ``text`` holds that looks like a credential, by kind (one each). An ADF expression (a value that
    starts with `@`) builds its text at run time: only the shapes that are credentials whatever surrounds
    them count there, not a `Password=` it concatenates."""
    expression = text.lstrip().startswith("@")
    return [kind for kind, shape in _SHAPES
            if not (expression and kind == _CONNECTION_PASSWORD) and shape.search(text)]


def _normalised(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


def _is_literal(value: Any) -> bool:
    """A plain-text value, as opposed to an unknown, a masked secret or a reference to a secret elsewhere."""
    return isinstance(value, str) and value.strip() != "" and value != PLAN_SECRET and not _REFERENCE.search(value)


# A notebook file the policy reads is one the project deploys: inside the project, a regular file, at most the
# 10 MiB the Workspace API imports.
_PROJECT = Path(__file__).resolve().parent.parent
_MAX_NOTEBOOK_BYTES = 10 * 1024 * 1024


def notebook_findings(source: Any) -> list[tuple[int, str]]:
    """(line number, kind) of what looks like a credential in the text of a deployed notebook: a
    `databricks.Notebook` uploads its `source` file, so the file's text is that resource's input."""
    if not isinstance(source, str) or source == PLAN_SECRET or source is UNKNOWN:
        return []
    # The program's directory (where Pulumi and the offline plan run it), else this pack's project.
    for project in (Path.cwd().resolve(), _PROJECT):
        path = (project / source).resolve()
        try:
            if path.is_relative_to(project) and path.is_file() and path.stat().st_size <= _MAX_NOTEBOOK_BYTES:
                text = path.read_text(encoding="utf-8", errors="replace")
                break
        except OSError:
            continue
    else:
        return []
    return [(number, kinds[0]) for number, line in enumerate(text.splitlines(), start=1)
            if (kinds := [kind for kind in shapes_in(line) if kind != _CONNECTION_PASSWORD])]
