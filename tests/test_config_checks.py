"""Stage settings that Azure or Databricks would take and then fail on, refused before anything is declared.

Key Vault secret names and Data Factory names ignore case; the Data Factory's clusters must fit their pool;
the vault's firewall takes public IPv4 addresses only; tag names follow Azure's rules and cannot slip past the
reserved ones. Every problem names the stack file and the keys involved, and all are reported together.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from core.config import PROJECT, parse_stage_config
from core.config_rules import MAX_IP_RULES
from core.errors import UserError


def problems(**raw: str) -> list[str]:
    with pytest.raises(UserError) as caught:
        parse_stage_config({f"{PROJECT}:{key}": value for key, value in raw.items()}, stack="test")
    return caught.value.problems


def config(**raw: str):
    return parse_stage_config({f"{PROJECT}:{key}": value for key, value in raw.items()}, stack="test")


POOL = {"name": "general", "nodeType": "Standard_DS3_v2", "maxCapacity": 4}
ETL = {"name": "etl", "nodeType": "Standard_E8ds_v5", "maxCapacity": 8}


# --- names Azure compares ignoring case -----------------------------------------------------------------------


def test_a_pat_secret_that_differs_from_a_pool_secret_only_in_case_is_one_key_vault_secret():
    [problem] = problems(patSecretName="Databricks-Pool-General")
    assert problem.startswith("Pulumi.test.yaml: patSecretName 'Databricks-Pool-General' and pool 'general' "
                              "(instancePools[0], secret 'databricks-pool-general' by default) name the same Key "
                              "Vault secret (Key Vault ignores case in secret names)")


def test_a_pool_secret_name_that_differs_from_another_pools_only_in_case_names_both_pools():
    etl = {**ETL, "secretName": "DATABRICKS-POOL-GENERAL"}
    [problem] = problems(instancePools=json.dumps([POOL, etl]))
    assert "pool 'general' (instancePools[0]" in problem
    assert "instancePools[1].secretName 'DATABRICKS-POOL-GENERAL'" in problem and "same Key Vault secret" in problem


def test_secret_names_that_differ_in_more_than_case_are_two_secrets():
    chosen = config(patSecretName="Databricks-Pat", instancePools=json.dumps([POOL, {**ETL, "secretName": "Etl"}]))
    assert [pool.key_vault_secret_name for pool in chosen.instance_pools] == ["databricks-pool-general", "Etl"]


@pytest.mark.parametrize(("key", "value", "names"), [
    ("dataFactoryTriggerStates", {"Nightly": "Started", "nightly": "Stopped"}, "'Nightly' and 'nightly'"),
    ("dataFactoryOverrides", {"pipeline/Load": {"a": 1}, "PIPELINE/load": {"a": 2}},
     "'pipeline/Load' and 'PIPELINE/load'"),
    ("jobsFailureEmails", ["Ops@Contoso.com", "ops@contoso.com"], "'Ops@Contoso.com' and 'ops@contoso.com'"),
    ("jobsFailureEmails", ["ops@contoso.com", "ops@contoso.com"], "'ops@contoso.com' appears twice"),
    ("workspaceTokenUsers", [{"group": "Data-Eng"}, {"group": "data-eng"}], "'Data-Eng' and 'data-eng'"),
])
def test_names_that_differ_only_in_case_are_refused_naming_both(key, value, names):
    [problem] = problems(**{key: json.dumps(value)})
    assert problem.startswith(f"Pulumi.test.yaml: {key}: {names}")


def test_every_problem_across_keys_is_reported_in_one_run():
    found = problems(patSecretName="DATABRICKS-POOL-GENERAL", patRotateBeforeDays="90",
                     dataFactoryDatabricksWorkers="8", jobsFailureEmails='["a@b.c", "A@B.C"]')
    assert len(found) == 4, found
    assert [line.split(": ")[1].split(" ")[0] for line in found] == [
        "patRotateBeforeDays", "patSecretName", "dataFactoryDatabricksWorkers", "jobsFailureEmails"]


# --- the Data Factory's clusters fit their pool ------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["1", "3"])
def test_data_factory_workers_plus_the_driver_up_to_the_pools_capacity_are_accepted(workers):
    assert config(dataFactoryDatabricksWorkers=workers).data_factory_databricks_workers == workers


def test_data_factory_workers_plus_the_driver_beyond_the_pools_capacity_are_refused_with_the_range():
    [problem] = problems(dataFactoryDatabricksWorkers="4")
    assert problem.startswith("Pulumi.test.yaml: dataFactoryDatabricksWorkers '4': each Data Factory Databricks "
                              "activity starts a cluster of 4 workers + the driver, 5 instances of pool 'general', "
                              "whose maxCapacity is 4")
    assert "give 1 to 3 workers" in problem


def test_workers_are_checked_against_the_pool_the_linked_service_uses():
    pools = json.dumps([POOL, ETL])
    assert config(instancePools=pools, dataFactoryDatabricksPool="etl", dataFactoryDatabricksWorkers="7")
    [problem] = problems(instancePools=pools, dataFactoryDatabricksPool="etl", dataFactoryDatabricksWorkers="8")
    assert "pool 'etl'" in problem and "maxCapacity is 8" in problem and "give 1 to 7 workers" in problem


def test_autoscale_on_a_pool_is_refused_because_data_factory_takes_a_fixed_number_there():
    [problem] = problems(dataFactoryDatabricksWorkers="2:3")
    assert "'2:3': min:max autoscales job clusters only; on an instance pool (here 'general')" in problem


def test_a_pool_too_small_for_a_driver_and_a_worker_says_to_raise_its_capacity():
    [problem] = problems(instancePools=json.dumps([{**POOL, "maxCapacity": 1}]), dataFactoryDatabricksWorkers="1")
    assert "no room for a driver and a worker; raise its maxCapacity in instancePools to at least 2" in problem


JOB_CLUSTERS = {"jobsDefaultPool": "", "dataFactoryAllowJobClusters": "true",
                "dataFactoryDatabricksNodeType": "Standard_DS3_v2"}


@pytest.mark.parametrize("workers", ["5:1", "0:0", "2:2", "3:0"])
def test_autoscale_without_a_pool_needs_a_max_above_the_min(workers):
    [problem] = problems(**JOB_CLUSTERS, dataFactoryDatabricksWorkers=workers)
    assert f"dataFactoryDatabricksWorkers {workers!r}: autoscaling takes min:max with max at least 1 and greater " \
           "than min" in problem


@pytest.mark.parametrize("settings", [JOB_CLUSTERS, {}])
def test_zero_workers_are_refused_as_a_cluster_that_runs_no_spark_work(settings):
    [problem] = problems(**settings, dataFactoryDatabricksWorkers="0")
    assert "'0': a cluster without workers runs no Spark work" in problem


def test_autoscale_and_large_clusters_are_accepted_without_a_pool():
    assert config(**JOB_CLUSTERS, dataFactoryDatabricksWorkers="2:8").data_factory_pool is None
    assert config(**JOB_CLUSTERS, dataFactoryDatabricksWorkers="40").data_factory_databricks_workers == "40"


# --- the vault's firewall takes public IPv4 rules, at most 1,000 -------------------------------------------------


@pytest.mark.parametrize(("entry", "why"), [
    ("10.1.2.0/24", "is a private range (RFC 1918)"),
    ("172.16.5.0/24", "is a private range (RFC 1918)"),
    ("192.168.1.1", "is a private range (RFC 1918)"),
    ("127.0.0.1", "is loopback"),
    ("169.254.10.1", "is link-local"),
    ("224.0.0.1", "is multicast"),
    ("240.0.0.1", "is reserved"),
    ("255.255.255.255", "is reserved"),
    ("0.0.0.1", "is 'this network'"),
    ("100.64.0.1", "is the carrier-grade NAT range"),
    ("8.0.0.0/5", "includes 10.0.0.0/8, which is a private range"),
    ("128.0.0.0/1", "includes 169.254.0.0/16, which is link-local"),
])
def test_firewall_entries_that_are_not_public_addresses_are_refused_naming_the_entry(entry, why):
    [problem] = problems(keyVaultAllowedIpRanges=json.dumps(["20.50.1.0/24", entry]))
    assert problem.startswith(f"Pulumi.test.yaml: {PROJECT}:keyVaultAllowedIpRanges[1]: {entry!r} {why}")
    assert "takes public IPv4 addresses only" in problem


def test_every_bad_firewall_entry_is_reported_in_one_run():
    found = problems(keyVaultAllowedIpRanges=json.dumps(["10.1.2.0/24", "192.168.1.1", "127.0.0.1", "224.0.0.1",
                                                         "0.0.0.0/0"]))
    assert [line.split(": ")[1] for line in found] == [f"{PROJECT}:keyVaultAllowedIpRanges[{index}]"
                                                      for index in range(5)]


def test_the_whole_internet_is_refused_saying_it_would_open_a_deny_firewall():
    [problem] = problems(keyVaultNetworkDefaultAction="Deny", keyVaultAllowedIpRanges='["0.0.0.0/0"]')
    assert "'0.0.0.0/0' is every IPv4 address: with keyVaultNetworkDefaultAction Deny it would silently open the " \
           "vault's firewall to the whole internet" in problem


def test_a_slash_31_is_refused_with_its_two_addresses():
    [problem] = problems(keyVaultAllowedIpRanges='["20.50.1.2/31"]')
    assert "'20.50.1.2/31' is a /31, two addresses; list them as '20.50.1.2' and '20.50.1.3'" in problem


def test_public_addresses_and_ranges_are_accepted():
    chosen = config(keyVaultNetworkDefaultAction="Deny", keyVaultAllowedIpRanges='["20.50.1.0/24", "52.1.2.3/32"]')
    assert chosen.key_vault_allowed_ip_ranges == ["20.50.1.0/24", "52.1.2.3"]


def public_addresses(count: int) -> list[str]:
    start = int(ipaddress.ip_address("20.0.0.0"))
    return [str(ipaddress.ip_address(start + index)) for index in range(count)]


def test_key_vaults_documented_1000_ip_rules_are_accepted_and_one_more_is_refused():
    assert len(config(keyVaultAllowedIpRanges=json.dumps(public_addresses(MAX_IP_RULES)))
               .key_vault_allowed_ip_ranges) == 1000
    [problem] = problems(keyVaultAllowedIpRanges=json.dumps(public_addresses(MAX_IP_RULES + 1)))
    assert problem.startswith(f"Pulumi.test.yaml: {PROJECT}:keyVaultAllowedIpRanges: 1,001 entries; Key Vault's "
                              "firewall takes at most 1,000 IPv4 rules")


# --- tag names follow Azure's rules and cannot slip past the reserved ones -----------------------------------


@pytest.mark.parametrize("name", [" stage", "stage ", "Managed-By ", " PROJECT ", "\u00a0stage"])
def test_reserved_tags_with_spaces_around_are_still_the_reserved_tags(name):
    [problem] = problems(tags=json.dumps({name: "prod"}))
    assert "is set by the program on every resource" in problem and "cannot be overridden" in problem


@pytest.mark.parametrize("name", [" costCenter", "costCenter ", "\tteam", "   "])
def test_tag_names_with_spaces_around_are_refused(name):
    [problem] = problems(tags=json.dumps({name: "x"}))
    assert f"{PROJECT}:tags: tag name" in problem and ("starts or ends with a space" in problem
                                                       or "control characters" in problem)


@pytest.mark.parametrize("character", list("<>%&\\?/"))
def test_tag_names_with_a_character_azure_forbids_are_refused(character):
    [problem] = problems(tags=json.dumps({f"cost{character}center": "x"}))
    assert "without any of <>%&\\?/" in problem


def test_tag_names_up_to_512_and_values_up_to_256_characters_with_inner_spaces_are_accepted():
    tags = {"cost center": "v" * 256, "n" * 512: "x"}
    assert config(tags=json.dumps(tags)).tags == tags


def test_a_list_of_thousands_of_bad_entries_names_the_first_ten_and_counts_the_rest():
    found = problems(keyVaultAllowedIpRanges=json.dumps([f"10.0.{index // 256}.{index % 256}"
                                                         for index in range(5000)]))
    assert len(found) == 11 and all("RFC 1918" in line for line in found[:10])
    assert found[-1] == f"Pulumi.test.yaml: {PROJECT}:keyVaultAllowedIpRanges: and 4,990 more problems like these"
