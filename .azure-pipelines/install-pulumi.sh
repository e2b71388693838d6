#!/usr/bin/env bash
# Install the Pulumi CLI at a pinned version on a build agent and put it on PATH for the later steps.
# Usage: install-pulumi.sh <version>   (e.g. 3.272.0; azure-pipelines.yml pins it in PULUMI_VERSION)
set -euo pipefail
version=${1:-}
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "usage: $0 <version>, e.g. 3.272.0 (got '${version}')" >&2
  exit 2
fi
curl -fsSL https://get.pulumi.com | sh -s -- --version "$version"
echo "##vso[task.prependpath]$HOME/.pulumi/bin"
"$HOME/.pulumi/bin/pulumi" version
