"""Physical names: valid for each Azure service, deterministic, and never shared by two stages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import naming

prefixes = st.from_regex(naming.PREFIX_PATTERN, fullmatch=True)
stages = st.from_regex(naming.STAGE_PATTERN, fullmatch=True)


@given(prefix=prefixes, stage=stages, unique=st.booleans())
def test_every_generated_name_satisfies_its_services_rules(prefix, stage, unique):
    names = naming.stage_names(project="databricks-platform", prefix=prefix, stage=stage, unique_suffix=unique)
    assert naming.is_valid_resource_group_name(names.resource_group), names.resource_group
    assert naming.is_valid_resource_group_name(names.managed_resource_group), names.managed_resource_group
    assert naming.is_valid_workspace_name(names.workspace), names.workspace
    assert naming.is_valid_key_vault_name(names.key_vault), names.key_vault
    assert naming.is_valid_data_factory_name(names.data_factory), names.data_factory
    assert naming.is_valid_storage_account_name(names.storage_account), names.storage_account


@given(prefix=prefixes, stages=st.lists(stages, min_size=2, max_size=2, unique=True), unique=st.booleans())
def test_two_stages_never_produce_the_same_name(prefix, stages, unique):
    first, second = (
        naming.stage_names(project="databricks-platform", prefix=prefix, stage=s, unique_suffix=unique)
        for s in stages
    )
    assert not set(vars(first).values()) & set(vars(second).values())


@given(prefix=prefixes, stage=stages, unique=st.booleans())
def test_names_are_a_function_of_the_config_alone(prefix, stage, unique):
    make = lambda: naming.stage_names(project="databricks-platform", prefix=prefix, stage=stage,  # noqa: E731
                                      unique_suffix=unique)
    assert make() == make()


@given(prefix=prefixes, stage=stages)
def test_suffix_changes_only_globally_unique_names(prefix, stage):
    plain = naming.stage_names(project="databricks-platform", prefix=prefix, stage=stage, unique_suffix=False)
    suffixed = naming.stage_names(project="databricks-platform", prefix=prefix, stage=stage, unique_suffix=True)
    assert plain.resource_group == suffixed.resource_group and plain.workspace == suffixed.workspace
    assert suffixed.key_vault.startswith(plain.key_vault + "-") and suffixed.key_vault != plain.key_vault
    assert suffixed.storage_account.startswith(plain.storage_account)


def test_rule_checks_reject_names_azure_rejects():
    assert not naming.is_valid_key_vault_name("kv--double")
    assert not naming.is_valid_key_vault_name("1kv-starts-with-digit")
    assert not naming.is_valid_key_vault_name("kv-" + "a" * 22)  # 25 characters
    assert not naming.is_valid_storage_account_name("st-has-dash")
    assert not naming.is_valid_data_factory_name("adf-ends-with-")
    assert not naming.is_valid_resource_group_name("rg.ends.with.")


names_of = st.tuples(prefixes, stages, st.booleans())


@settings(max_examples=300)
@given(first=names_of, second=names_of)
def test_different_prefix_stage_pairs_never_share_any_name(first, second):
    """Storage names have no separator; `dbp`+`dev1` and `dbpd`+`ev1` must still differ (and a suffixed
    name must never equal another stage's plain one). The same pair shares its resource group with or
    without the suffix, by design."""
    if first[:2] == second[:2]:
        return
    one, other = (naming.stage_names(project="databricks-platform", prefix=p, stage=s, unique_suffix=u)
                  for p, s, u in (first, second))
    assert not set(vars(one).values()) & set(vars(other).values()), (first, second)


def test_the_reviewed_storage_collision_is_gone():
    make = lambda prefix, stage: naming.stage_names(  # noqa: E731
        project="databricks-platform", prefix=prefix, stage=stage, unique_suffix=False).storage_account
    assert make("dbp", "dev1") != make("dbpd", "ev1")


@pytest.mark.parametrize(("prefix", "stage"), [("dbp\n", "dev"), ("dbp", "dev\n"), ("dbp", "dev\nx"), ("DBP", "dev")])
def test_a_prefix_or_stage_with_a_newline_or_capitals_is_never_named(prefix, stage):
    with pytest.raises(ValueError, match="must match"):
        naming.stage_names(project="databricks-platform", prefix=prefix, stage=stage, unique_suffix=False)
