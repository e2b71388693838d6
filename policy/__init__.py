"""The stage's guard rails: a pulumi-policy pack (``pulumi preview --policy-pack policy``) whose validators
the offline plan also runs (``python -m offline_plan --stack <s> --policy``). See ``policy.rules``."""
