"""Build pulumi-policy's own argument objects the two ways rules receive them, and generate test credentials.

- ``offline_args``: as the offline plan builds them (plain inputs; ``<computed>`` and ``[secret]`` markers).
- ``pack_args``: as the pack's server builds them from the engine's wire properties: a protobuf Struct,
  ``deserialize_properties`` (which unwraps secrets to plain text) and ``unknown_checking_proxy``.
Credentials are made at test time; none is ever committed.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import urllib.parse
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

PROJECT = "databricks-platform"
UNKNOWN = UNKNOWN_STRING_VALUE  # what the engine sends for a value known only after deployment


def urn(resource_type: str, name: str, stage: str) -> str:
    return f"urn:pulumi:{stage}::{PROJECT}::{resource_type}::{name}"


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def offline_args(resource_type: str, inputs: dict[str, Any], *, stage: str = "test", name: str = "resource",
                 config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(resource_type, inputs, urn(resource_type, name, stage), name, _options(), None,
                                  config, {})


def wire_secret(value: Any) -> dict[str, Any]:
    """A value the engine marks secret on the wire."""
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


def pack_args(resource_type: str, wire: dict[str, Any], *, stage: str = "test", name: str = "resource",
              config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    struct = struct_pb2.Struct()
    struct.update(wire)
    props = unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))
    # The server hands config over as MessageToDict of a Struct too: numbers arrive as floats.
    if config is not None:
        config_struct = struct_pb2.Struct()
        config_struct.update(config)
        config = json_format.MessageToDict(config_struct)
    return ResourceValidationArgs(resource_type, props, urn(resource_type, name, stage), name, _options(), None,
                                  config, {})


def violations(validate, args: ResourceValidationArgs) -> list[str]:
    found: list[str] = []
    validate(args, lambda message, _urn=None: found.append(message))
    return found


# Credentials of every shape the no-plaintext-secrets rule knows, made fresh for each run.
def databricks_pat() -> str:
    return "dapi" + secrets.token_hex(16)


def entra_client_secret() -> str:
    alphabet = string.ascii_letters + string.digits
    tail = alphabet + "_~.-"
    return ("".join(secrets.choice(alphabet) for _ in range(3)) + secrets.choice(string.digits) + "Q~"
            + "".join(secrets.choice(tail) for _ in range(34)))


def storage_account_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode()


def storage_connection_string() -> str:
    return (f"DefaultEndpointsProtocol=https;AccountName=stdbpsales;AccountKey={storage_account_key()};"
            "EndpointSuffix=core.windows.net")


def sas_token() -> str:
    signature = urllib.parse.quote(base64.b64encode(secrets.token_bytes(32)).decode(), safe="")
    return f"sv=2022-11-02&ss=b&srt=o&sp=rl&se=2030-01-01T00:00:00Z&spr=https&sig={signature}"


def sql_connection_string() -> str:
    return (f"Server=tcp:sql-dbp.database.windows.net,1433;Database=sales;User ID=loader;"
            f"Password=A{secrets.token_urlsafe(18)};Encrypt=True")


def private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def jwt() -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = part(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = part(json.dumps({"aud": "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", "oid": secrets.token_hex(8)}).encode())
    return f"{header}.{payload}.{part(secrets.token_bytes(32))}"
