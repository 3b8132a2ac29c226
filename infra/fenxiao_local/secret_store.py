"""``AWS::SecretsManager::Secret``, locally: moto's CloudFormation does not create secrets (it skips the type),
so the local stack and the tests create each one in moto's Secrets Manager as CloudFormation would: a value
from ``GenerateSecretString`` (through GetRandomPassword, which takes the same options), or the value given
(``fenxiao local up --operator-token``). The handlers then read it with GetSecretValue, as in AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fenxiao_local.template import Template, TemplateError

SECRET = "AWS::SecretsManager::Secret"
OPERATOR_TOKEN_SECRET = "OperatorTokenSecret"  # template.yaml's logical id
# GenerateSecretString's options that GetRandomPassword takes as they are.
_PASSWORD_OPTIONS = {
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
}


def create_secrets(
    template: Template, stack_name: str, given: Mapping[str, str], secretsmanager: Any
) -> dict[str, str]:
    """Create every secret of the template; answers logical id -> ARN (what ``!Ref`` of a secret gives)."""
    declared = {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in template.resources.items()
        if resource.get("Type") == SECRET
    }
    unknown = set(given) - set(declared)
    if unknown:
        raise TemplateError(f"no AWS::SecretsManager::Secret named {', '.join(sorted(unknown))}")
    arns: dict[str, str] = {}
    for logical_id, properties in declared.items():
        value = given.get(logical_id)
        if value is None:
            generate = properties.get("GenerateSecretString")
            if not isinstance(generate, dict) or set(generate) - _PASSWORD_OPTIONS:
                raise TemplateError(
                    f"{logical_id}: the local stack generates only plain GenerateSecretString"
                )
            value = secretsmanager.get_random_password(**generate)["RandomPassword"]
        created = secretsmanager.create_secret(Name=f"{stack_name}/{logical_id}", SecretString=value)
        arns[logical_id] = str(created["ARN"])
    return arns
