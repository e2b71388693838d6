"""Entry point of the policy pack: the only place that constructs ``PolicyPack`` (which starts its server).

Pulumi runs this file from the pack's directory; the rules import as ``policy.*`` from the project root,
the same modules the offline plan imports.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.rules import POLICIES, POLICY_PACK_NAME

PolicyPack(
    name=POLICY_PACK_NAME,
    policies=POLICIES,
    # Each policy sets its own level; a policy that did not would be advisory.
    enforcement_level=EnforcementLevel.ADVISORY,
)
