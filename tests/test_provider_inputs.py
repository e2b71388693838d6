"""The input checks the dynamic providers share: the whole value must match, in every provider alike."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime.rpc import UNKNOWN

from dynamic_providers.adf_trigger import TriggerStopperProvider
from dynamic_providers.databricks_pat import DatabricksPatProvider
from dynamic_providers.provider_inputs import authority_host, https_origin, identity_failures
from dynamic_providers.vault_secret import VaultSecretProvider

TENANT = "00000000-0000-0000-0000-000000007e11"
CLIENT = "00000000-0000-0000-0000-00000000c11e"
IDENTITY = {"tenant_id": TENANT, "client_id": CLIENT, "credential": "environment"}
PROVIDERS: dict[str, tuple[Any, dict[str, Any]]] = {
    "DatabricksPat": (DatabricksPatProvider(), {
        **IDENTITY, "workspace_url": "https://adb-1.2.azuredatabricks.net", "lifetime_days": 90}),
    "VaultSecret": (VaultSecretProvider(), {
        **IDENTITY, "vault_uri": "https://kv-dbp-test.vault.azure.net/", "secret_name": "databricks-pat",
        "value": "x"}),
    "TriggerStopper": (TriggerStopperProvider(), {
        **IDENTITY, "subscription_id": TENANT, "resource_group_name": "rg-dbp-test", "factory_name": "adf-dbp-test",
        "trigger_name": "tr_daily", "fingerprint": "f" * 64}),
}


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_every_provider_accepts_a_well_formed_identity(provider):
    implementation, inputs = PROVIDERS[provider]
    assert implementation.check({}, inputs).failures == []


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("prop", ["tenant_id", "client_id"])
@pytest.mark.parametrize("suffix", ["\n", "\n-injected", " ", "\x00"])
def test_no_provider_takes_an_id_with_anything_after_it(provider, prop, suffix):
    """`re.match` with `$` accepts a trailing newline: every provider must match the whole value."""
    implementation, inputs = PROVIDERS[provider]
    failures = implementation.check({}, {**inputs, prop: inputs[prop] + suffix}).failures
    assert [failure.property for failure in failures] == [prop]


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_huge_bad_value_is_not_echoed_whole(provider):
    implementation, inputs = PROVIDERS[provider]
    [failure] = implementation.check({}, {**inputs, "tenant_id": "!" * 2_000_000}).failures
    assert len(failure.reason) < 400 and "2,000,000 characters" in failure.reason


def test_the_authority_host_is_a_bare_host_or_an_https_origin_and_is_normalised():
    assert authority_host("Login.MicrosoftOnline.US") == "login.microsoftonline.us"
    assert authority_host("https://127.0.0.1:8443/") == "https://127.0.0.1:8443"
    assert authority_host(" login.microsoftonline.us\n") == "login.microsoftonline.us", "normalised, not kept"
    for bad in ("http://login.microsoftonline.us", "login.microsoft\nonline.us", "https://host/tenant", "", 7):
        assert authority_host(bad) is None, bad
    assert https_origin("https://user:pw@host") is None and https_origin("https://host?x=1") is None


def test_identity_checks_normalise_in_place_and_let_unknowns_through():
    inputs = {"tenant_id": UNKNOWN, "credential": "azure_cli", "azure_authority_host": "LOGIN.chinacloudapi.cn"}
    assert identity_failures(inputs, client_id_required=False) == []
    assert inputs["azure_authority_host"] == "login.chinacloudapi.cn"
    [missing] = identity_failures({"tenant_id": TENANT}, client_id_required=True)
    assert missing.property == "client_id" and "required" in missing.reason
