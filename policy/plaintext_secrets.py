"""The rule that no resource input holds a credential in plain text (``no-plaintext-secrets``).

What looks like a credential is ``policy.secret_shapes``'s to decide; this module words the violation:
where the value was found and where it belongs instead (a Key Vault reference, a Databricks secret scope),
by the kind of resource. ``policy.rules`` lists it in ``POLICIES`` with its enforcement level.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy.resource_types import JOB, NOTEBOOK, is_data_factory
from policy.secret_shapes import find_plaintext_secrets, notebook_findings
from policy.values import config_key, inputs_of, path_text


def _secret_fix(args: ResourceValidationArgs, path: tuple) -> str:
    if path and path[0] in ("tags", "customTags"):
        return f"remove it from {config_key('tags', args)}; tags are never secret"
    if args.resource_type == JOB:
        return ("keep it in a secret scope and pass a Databricks secret reference, {{secrets/<scope>/<key>}}, "
                "in the job definition")
    if is_data_factory(args.resource_type, inputs_of(args)):
        return "keep it in the stage's Key Vault and use an AzureKeyVaultSecret reference through its linked service"
    return "keep it in the stage's Key Vault and read it from there at run time"


def validate_no_plaintext_secrets(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No input holds what looks like a credential in plain text (Key Vault secret values excepted), a deployed
    notebook's text included."""
    inputs = inputs_of(args)
    if args.resource_type == NOTEBOOK:
        for line, kind in notebook_findings(inputs.get("source")):
            report_violation(
                f"{inputs['source']} line {line} holds what looks like {kind} in plain text, uploaded to the "
                f"workspace as notebook {inputs.get('path', args.name)!r}: read it at run time instead, from a "
                "Databricks secret scope (dbutils.secrets.get) or Key Vault, and revoke the exposed one.", None)
    for finding in find_plaintext_secrets(inputs, resource_type=args.resource_type):
        report_violation(
            f"{path_text(finding.path)} of {args.resource_type.rsplit(':', 1)[-1]} {args.name!r} holds what looks "
            f"like {finding.kind} in plain text, readable in the plan, the state and the portal: "
            f"{_secret_fix(args, finding.path)}.", None)
