"""A fake `az` executable for azure-identity's AzureCliCredential.

It answers `az account get-access-token --output json --resource R [--tenant T]` the way an Azure CLI
logged in as a service principal does (e.g. an Azure DevOps AzureCLI step): it asks the fake Entra ID for a
client-credentials token and prints the CLI's JSON. Its login (endpoint, client id, secret) is written to a
file beside the script, never passed in the environment.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

_SCRIPT = """\
#!{python}
import json, sys, time
from pathlib import Path

import requests

login = json.loads(Path({login!r}).read_text())
args = sys.argv[1:]
if args[:2] != ["account", "get-access-token"] or "--resource" not in args:
    sys.stderr.write("fake az: unsupported command\\n")
    sys.exit(2)
resource = args[args.index("--resource") + 1]
tenant = args[args.index("--tenant") + 1] if "--tenant" in args else login["tenant_id"]
if tenant != login["tenant_id"]:
    sys.stderr.write("ERROR: AADSTS90002: Tenant not found. Run 'az login' for that tenant.\\n")
    sys.exit(1)
reply = requests.post(
    login["token_endpoint"],
    data={{
        "grant_type": "client_credentials",
        "client_id": login["client_id"],
        "client_secret": login["client_secret"],
        "scope": resource.rstrip("/") + "/.default",
    }},
    timeout=10,
)
if reply.status_code != 200:
    sys.stderr.write("ERROR: " + reply.json().get("error_description", "login failed") + "\\n")
    sys.exit(1)
expires_on = int(time.time()) + int(reply.json()["expires_in"])
print(json.dumps({{
    "accessToken": reply.json()["access_token"],
    "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(expires_on)),
    "expires_on": expires_on,
    "subscription": "00000000-0000-0000-0000-000000000000",
    "tenant": tenant,
    "tokenType": "Bearer",
}}))
"""


def install_fake_az(
    directory: Path, *, token_endpoint: str, tenant_id: str, client_id: str, client_secret: str
) -> Path:
    """Write `directory/az` (logged in as the given principal); put `directory` first on PATH to use it."""
    directory.mkdir(parents=True, exist_ok=True)
    login = directory / "az-login.json"
    login.write_text(
        json.dumps(
            {
                "token_endpoint": token_endpoint,
                "tenant_id": tenant_id,
                "client_id": client_id,
                "client_secret": client_secret,
            }
        )
    )
    os.chmod(login, 0o600)
    script = directory / "az"
    script.write_text(_SCRIPT.format(python=sys.executable, login=str(login)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script
