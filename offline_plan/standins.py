"""Deterministic stand-ins for what only the cloud knows: provider look-ups and computed outputs."""

from __future__ import annotations

from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

# Fixed, obviously fake identities: the plan is the same on every machine and names no real tenant.
CLIENT_CONFIG = {
    "clientId": "00000000-0000-0000-0000-00000000c11e",
    "objectId": "00000000-0000-0000-0000-0000000000b1",
    "subscriptionId": "00000000-0000-0000-0000-000000005b5c",
    "tenantId": "00000000-0000-0000-0000-000000007e11",
}

# Stands in for a minted token in tests; a test checks it never reaches any output unmasked.
STANDIN_PAT = "standin-pat-value-never-printed"
ADMINS_GROUP = {"id": "standin-admins-group-id", "displayName": "admins"}

# Pulumi's wire marker for "known only after deployment" (sdk/python/lib/pulumi/runtime/rpc.py).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


_NAME_INPUTS = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:databricks:Workspace": "workspaceName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:keyvault:Secret": "secretName",
    "azure-native:datafactory:Factory": "factoryName",
}


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs the cloud computes and the program reads, as (possibly nested) partial state.

    With fill_computed (tests) they stand in for what `pulumi up` would return; in a plan each is
    unknown, as in a real preview.
    """
    computed: dict[str, Any] = {}
    # azure-native resources report their physical name as `name`.
    name_input = _NAME_INPUTS.get(typ)
    if name_input:
        computed["name"] = inputs.get(name_input, name)
    if typ == "azure-native:databricks:Workspace":
        computed["workspaceUrl"] = "adb-1234567890123456.7.azuredatabricks.net"
    elif typ == "azure-native:keyvault:Vault":
        computed["properties"] = {"vaultUri": f"https://{inputs.get('vaultName', name)}.vault.azure.net/"}
    elif typ == "azure-native:datafactory:Factory":
        computed["identity"] = {"principalId": "00000000-0000-0000-0000-0000000000fa"}
    elif typ == "pulumi-python:dynamic/databricks-platform:DatabricksPat":
        computed.update(
            token_id="standin-token-id",
            token_value=STANDIN_PAT,
            creation_time="2026-01-01T00:00:00Z",
            expiry_time="2026-04-01T00:00:00Z",
        )
    return computed


def _merge(state: dict[str, Any], computed: dict[str, Any], *, known: bool) -> dict[str, Any]:
    merged = dict(state)
    for key, value in computed.items():
        if isinstance(value, dict):
            merged[key] = _merge(merged.get(key) or {}, value, known=known)
        else:
            merged[key] = value if known else UNKNOWN
    return merged


class UnmockedCall(Exception):
    """A provider function the offline plan has no stand-in for: add one to standins.py."""


class PlanMocks(Mocks):
    def __init__(self, *, fill_computed: bool) -> None:
        self._fill_computed = fill_computed

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict]:
        # A preview echoes inputs as outputs; what only the cloud computes stays unknown.
        state = _merge(args.inputs, _computed(args.typ, args.name, args.inputs), known=self._fill_computed)
        # An empty id is unknown in a preview, as for any resource not yet created.
        resource_id = f"/mock/{args.typ}/{args.name}" if self._fill_computed else ""
        return resource_id, state

    def call(self, args: MockCallArgs) -> dict:
        if args.token == "azure-native:authorization:getClientConfig":
            return dict(CLIENT_CONFIG)
        if args.token == "databricks:index/getGroup:getGroup" and args.args.get("displayName") == "admins":
            return dict(ADMINS_GROUP)
        raise UnmockedCall(f"the offline plan has no stand-in for {args.token}; add one to offline_plan/standins.py")
