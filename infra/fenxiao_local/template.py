"""template.yaml as the local stack reads it: functions, their event sources, and the handlers' environment.

The template is the one ``sam deploy`` uses, read as it is. CloudFormation's short tags (``!Ref``,
``!GetAtt``, ``!Sub`` and the other ``!Fn``) load as their long forms (``{"Ref": ...}``,
``{"Fn::GetAtt": [...]}``...), so everything below works on plain dicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_API = "AWS::Serverless::Api"


class TemplateError(ValueError):
    """template.yaml holds something the local stack cannot run (named in the message)."""


# ---------------------------------------------------------------- loading


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short tags as their long forms, and nothing else."""


def _short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical_id, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_tag)


def load_template(path: Path | str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return document


# ---------------------------------------------------------------- resolving intrinsic functions

Resolver = Callable[[str], str]


@dataclass
class Intrinsics:
    """Resolves ``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` and ``Fn::Join`` against a created stack.

    ``ref(name)`` answers for parameters, pseudo parameters and resources; ``get_att(logical_id, attr)``
    for resource attributes. Both are given by the caller (the stack knows the physical ids).
    """

    ref: Resolver
    get_att: Callable[[str, str], str]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self.ref(str(argument))
            if name == "Fn::GetAtt":
                logical_id, attribute = (
                    argument if isinstance(argument, list) else str(argument).split(".", 1)
                )
                return self.get_att(str(logical_id), str(attribute))
            if name == "Fn::Sub":
                return self._sub(argument)
            if name == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(self.resolve(item)) for item in items)
            if name.startswith("Fn::"):
                raise TemplateError(f"the local stack cannot resolve {name}")
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = str(argument[0]), dict(argument[1])
        else:
            text, variables = str(argument), {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)


# ---------------------------------------------------------------- functions and their event sources


@dataclass(frozen=True)
class SqsSource:
    """A ``Type: SQS`` event of a function: Lambda's poller for one queue."""

    function: Function
    event_name: str
    queue_logical_id: str
    batch_size: int
    report_batch_item_failures: bool
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleSource:
    """A ``Type: Schedule`` event of a function: an EventBridge rule that invokes it with ``Input``."""

    function: Function
    event_name: str
    expression: str
    input: Any
    enabled: bool = True


@dataclass(frozen=True)
class ApiRoute:
    """A ``Type: Api`` event: one path and method the REST API serves."""

    function: Function
    event_name: str
    path: str
    method: str
    api_logical_id: str  # the RestApiId's resource, or SAM's implicit ServerlessRestApi


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    code_uri: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def module_name(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def _logical_id_of(value: Any, what: str) -> str:
    """The logical id behind ``!GetAtt X.Arn`` or ``!Ref X``."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Ref" in value:
            return str(value["Ref"])
    raise TemplateError(f"{what}: expected !GetAtt <Queue>.Arn or !Ref <Queue>, got {value!r}")


def _enabled(props: Mapping[str, Any]) -> bool:
    if props.get("Enabled") is False:
        return False
    return str(props.get("State", "ENABLED")).upper() != "DISABLED"


@dataclass
class Template:
    document: dict[str, Any]
    path: Path

    @classmethod
    def load(cls, path: Path | str) -> Template:
        return cls(load_template(path), Path(path))

    @property
    def root(self) -> Path:
        return self.path.resolve().parent

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.document["Resources"])

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.document.get("Parameters") or {})

    @property
    def function_globals(self) -> dict[str, Any]:
        return dict((self.document.get("Globals") or {}).get("Function") or {})

    def global_environment(self) -> dict[str, Any]:
        return dict(((self.function_globals.get("Environment") or {}).get("Variables")) or {})

    def functions(self) -> list[Function]:
        base = self.function_globals
        out = []
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != SERVERLESS_FUNCTION:
                continue
            props = {**base, **(resource.get("Properties") or {})}
            handler = props.get("Handler")
            if not isinstance(handler, str) or "." not in handler:
                raise TemplateError(f"{logical_id}: Handler must be module.attribute, got {handler!r}")
            out.append(
                Function(
                    logical_id=logical_id,
                    handler=handler,
                    code_uri=str(props.get("CodeUri") or "."),
                    timeout_seconds=int(props.get("Timeout") or 3),
                    memory_mb=int(props.get("MemorySize") or 128),
                    environment=dict(
                        ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
                    ),
                )
            )
        return out

    def _events(self, function: Function) -> dict[str, Any]:
        props = self.resources[function.logical_id].get("Properties") or {}
        return dict(props.get("Events") or {})

    def sqs_sources(self) -> list[SqsSource]:
        out = []
        for function in self.functions():
            for name, event in self._events(function).items():
                if event.get("Type") != "SQS":
                    continue
                props = event.get("Properties") or {}
                out.append(
                    SqsSource(
                        function=function,
                        event_name=name,
                        queue_logical_id=_logical_id_of(props.get("Queue"), f"{function.logical_id}.{name}"),
                        batch_size=int(props.get("BatchSize") or 10),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                        enabled=_enabled(props),
                    )
                )
        return out

    def schedule_sources(self) -> list[ScheduleSource]:
        import json

        out = []
        for function in self.functions():
            for name, event in self._events(function).items():
                if event.get("Type") not in {"Schedule", "ScheduleV2"}:
                    continue
                props = event.get("Properties") or {}
                expression = props.get("Schedule") or props.get("ScheduleExpression")
                if not isinstance(expression, str):
                    raise TemplateError(f"{function.logical_id}.{name}: Schedule must be a string")
                raw_input = props.get("Input")
                try:
                    payload = json.loads(raw_input) if isinstance(raw_input, str) else None
                except json.JSONDecodeError as exc:
                    raise TemplateError(f"{function.logical_id}.{name}: Input is not JSON: {exc}") from None
                out.append(
                    ScheduleSource(
                        function=function,
                        event_name=name,
                        expression=expression,
                        input=payload,
                        enabled=_enabled(props),
                    )
                )
        return out

    def api_routes(self) -> list[ApiRoute]:
        out = []
        for function in self.functions():
            for name, event in self._events(function).items():
                if event.get("Type") != "Api":
                    continue
                props = event.get("Properties") or {}
                api = props.get("RestApiId")
                out.append(
                    ApiRoute(
                        function,
                        name,
                        str(props["Path"]),
                        str(props["Method"]).upper(),
                        _logical_id_of(api, f"{function.logical_id}.{name}") if api else "ServerlessRestApi",
                    )
                )
        return out

    def api_function(self) -> Function | None:
        routes = self.api_routes()
        return routes[0].function if routes else None

    def gateway_response_body(self, response_type: str, status: int) -> str | None:
        """The JSON body an ``AWS::Serverless::Api``'s GatewayResponses gives ``response_type`` (else the
        DEFAULT_4XX or DEFAULT_5XX one, by ``status``)."""
        for resource in self.resources.values():
            if resource.get("Type") != SERVERLESS_API:
                continue
            responses = (resource.get("Properties") or {}).get("GatewayResponses") or {}
            for kind in (response_type, "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"):
                templates = (responses.get(kind) or {}).get("ResponseTemplates") or {}
                body = templates.get("application/json")
                if isinstance(body, str):
                    return body
        return None

    def parameter_values(self, given: Mapping[str, str]) -> dict[str, str]:
        """Every parameter's value: given, else its Default; checked against MinLength/AllowedValues."""
        values: dict[str, str] = {}
        for name, spec in self.parameters.items():
            spec = spec or {}
            if name in given:
                value = str(given[name])
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default and was not given")
            if "MinLength" in spec and len(value) < int(spec["MinLength"]):
                raise TemplateError(f"parameter {name}: at least {spec['MinLength']} characters")
            allowed = spec.get("AllowedValues")
            if allowed and value not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}: one of {', '.join(map(str, allowed))}")
            values[name] = value
        unknown = set(given) - set(values)
        if unknown:
            raise TemplateError(f"unknown parameters: {', '.join(sorted(unknown))}")
        return values

    def handler_file(self, function: Function) -> Path:
        """Where Lambda would find the handler's module: ``CodeUri/<module>.py``."""
        return self.root / function.code_uri / (function.module_name.replace(".", "/") + ".py")
