"""Which Bedrock models a stage's roles may invoke: the registry file's models, and the
provisioned models and custom model deployments of the stage's account in its region.

Versions are data (CONTRACT section 7): `register` creates them for models provisioned after
the deploy, so the invoke grant (chalicelib/deploy/iam.py) cannot list them by ARN; it names
the two served kinds in the account and region instead. Version creation refuses any other
Bedrock model id up front (chalicelib/deployments/service.py), so a version that would only
fail with AccessDenied at invoke time is never stored. The account is not checked there: a
function does not know its account without a call (the grant still confines it).
"""

from __future__ import annotations

import re

from chalicelib.config.registry import Registry

#: The resource types a tuned model is served under (Provisioned Throughput, on-demand).
SERVED_KINDS = ("provisioned-model", "custom-model-deployment")


def model_arn(model_id: str, region: str) -> str:
    """An ARN as IAM sees it: ARNs unchanged, bare model ids as foundation-model ARNs."""
    if model_id.startswith("arn:"):
        return model_id
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def served_arns(region: str, account_id: str) -> list[str]:
    """The IAM resources of every served tuned model of the account in the region."""
    return [f"arn:aws:bedrock:{region}:{account_id}:{kind}/*" for kind in SERVED_KINDS]


def invocation_problem(model_id: str, registry: Registry, region: str) -> str | None:
    """Why the stage's roles cannot invoke Bedrock `model_id`, or None when they can."""
    arn = model_arn(model_id, region)
    if arn in {
        model_arn(d.model_id, region) for d in registry.deployments if d.provider == "bedrock"
    }:
        return None
    served = re.match(r"^arn:aws(-[a-z]+)*:bedrock:([a-z0-9-]+):\d{12}:([a-z-]+)/\S+$", arn)
    if served and served.group(3) in SERVED_KINDS:
        if served.group(2) == region:
            return None
        return f"is in region {served.group(2)}; this stage invokes models in {region} only"
    kinds = " or ".join(SERVED_KINDS)
    return f"the stage may invoke only its registry file's models and {kinds} ARNs in {region}"
