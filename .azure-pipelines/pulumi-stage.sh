#!/usr/bin/env bash
# One Pulumi command for one stage, run by an AzureCLI@2 step whose service connection uses workload
# identity federation, with addSpnToEnvironment: true.
# Usage: pulumi-stage.sh preview <stage> <markdown file>   the preview, as a pull-request comment section
#        pulumi-stage.sh up <stage> <outputs file>         deploy, then `pulumi stack output --json`
# PREVIEW_REFRESH=true makes the preview refresh first (`pulumi preview --refresh`, as `up` does): only for a
# preview identity that may read everything the stack manages (README, "What a pull request's preview shows").
set -euo pipefail
usage() {
  echo "usage: $0 preview|up <stage> <output file>" >&2
  exit 2
}
[ $# -eq 3 ] || usage
command=$1 stage=$2 output=$3
case $command in preview | up) ;; *) usage ;; esac
if [[ ! $stage =~ ^[a-z][a-z0-9]{1,6}$ ]]; then
  echo "the stage must be 2-7 lowercase letters or digits, starting with a letter (got '$stage')" >&2
  exit 2
fi
case ${PREVIEW_REFRESH:-false} in
  true | True) refresh=--refresh ;;
  false | False) refresh= ;;
  *)
    echo "PREVIEW_REFRESH must be true or false (got '${PREVIEW_REFRESH}')" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/.."
stack_file="Pulumi.$stage.yaml"
if [ ! -f "$stack_file" ]; then
  echo "$stack_file does not exist: every stage is a stack file in the repository" >&2
  exit 2
fi
# The secrets provider is the one `pulumi stack init --secrets-provider` wrote into the stack file; nothing
# else chooses it (no pipeline variable does). Without it Pulumi would ask for a passphrase.
if ! grep -Eq '^secretsprovider: *azurekeyvault://' "$stack_file"; then
  echo "$stack_file has no 'secretsprovider: azurekeyvault://…' line: create the stack once with" >&2
  echo "  pulumi stack init $stage --secrets-provider \"azurekeyvault://<vault>.vault.azure.net/keys/<key>\"" >&2
  echo "and commit the secretsprovider and encryptedkey lines it adds (README, 'The stacks')" >&2
  exit 1
fi
: "${PULUMI_BACKEND_URL:?set the pipeline variable PULUMI_BACKEND_URL (azblob://<container>?storage_account=<account>, see README)}"
: "${idToken:?the AzureCLI@2 step needs addSpnToEnvironment: true and a workload identity federation service connection}"

# azure-native signs in with the federated token. The program's own calls (the PAT provider, smoke runs) and
# the Databricks provider use the az login of this step (deployerCredential: azure_cli in the stack files).
export ARM_USE_OIDC=true ARM_OIDC_TOKEN="$idToken" ARM_CLIENT_ID="$servicePrincipalId" ARM_TENANT_ID="$tenantId"
ARM_SUBSCRIPTION_ID=$(az account show --query id --output tsv)
export ARM_SUBSCRIPTION_ID
# The federated token is valid for about 10 minutes; an access token bought with it lasts about an hour and
# az caches it. Buy every audience the run needs now: ARM, Azure Databricks, Key Vault (secret deletes and
# recoveries go through the vault's data plane) and Storage (the state). A run longer than the access
# tokens' hour fails: see README, "The federated token is short-lived".
vault_suffix=$(az cloud show --query suffixes.keyvaultDns --output tsv)
az account get-access-token --output none
az account get-access-token --resource 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d --output none
az account get-access-token --resource "https://vault${vault_suffix#.vault}" --output none
az account get-access-token --resource https://storage.azure.com/ --output none

# The program, its dynamic providers and the policy pack are the change's own code: they never see the
# build's Azure DevOps token, whatever a step maps into its environment.
unset SYSTEM_ACCESSTOKEN
pulumi login "$PULUMI_BACKEND_URL"
# Stacks are created once, by hand, with the Key Vault secrets provider (README): a mistyped backend or
# stage must fail here rather than start an empty stack.
if ! pulumi stack select "$stage" 2>/dev/null; then
  echo "stack $stage does not exist in $PULUMI_BACKEND_URL; create it once with" >&2
  echo "  pulumi stack init $stage --secrets-provider \"azurekeyvault://<vault>.vault.azure.net/keys/<key>\"" >&2
  echo "and commit the secretsprovider and encryptedkey lines it adds to $stack_file" >&2
  exit 1
fi

# A fence longer than any run of backticks in the text, so no line of Pulumi's output can end the block.
fence_for() {
  local longest
  longest=$({ grep -o '`\+' "$1" || true; } | awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }')
  if [ "$longest" -lt 3 ]; then longest=2; fi
  printf '%*s' $((longest + 1)) '' | tr ' ' '`'
}

case $command in
  preview)
    log=$(mktemp)
    status=0
    # shellcheck disable=SC2086 # $refresh is one flag or nothing
    pulumi preview --stack "$stage" $refresh --diff --non-interactive --color never --policy-pack policy \
      > "$log" 2>&1 || status=$?
    fence=$(fence_for "$log")
    against="against the recorded state, not refreshed"
    if [ -n "$refresh" ]; then against="refreshed from Azure first"; fi
    {
      if [ "$status" -eq 0 ]; then
        echo "### pulumi preview: stack \`$stage\`"
      else
        echo "### pulumi preview: stack \`$stage\` FAILED (exit $status)"
      fi
      echo
      echo "_Made with the read-only preview identity, $against (README: \"What a pull request's preview shows\")._"
      echo
      # Pulumi prints its summary ("Resources: … to update") last: show it first, and the whole output below.
      if grep -q '^Resources:' "$log"; then
        echo "$fence"
        sed -n '/^Resources:/,$p' "$log"
        echo "$fence"
        echo
      fi
      echo '<details><summary>Output</summary>'
      echo
      echo "$fence"
      # Pulumi masks secrets in its output. The whole output: ops pr-comment cuts it to fit, keeping both ends.
      cat "$log"
      echo "$fence"
      echo
      echo '</details>'
    } > "$output"
    cat "$log"
    rm -f "$log"
    exit "$status"
    ;;
  up)
    # The guard rails again, now that every value is known (offline, some were only <computed>).
    pulumi up --stack "$stage" --yes --refresh --diff --non-interactive --policy-pack policy
    pulumi stack output --stack "$stage" --json > "$output"
    ;;
esac
