"""CloudFormation's YAML and intrinsic functions, evaluated for the local stack.

Short tags (`!Ref`, `!Sub`, ...) load as their long forms (`{"Fn::Sub": ...}`); the `Resolver` then
evaluates them against parameter values, pseudo parameters (`AWS::StackName`, `AWS::Region`, ...)
and the local stand-in of each resource: what `!Ref`/`!GetAtt` of a resource gives is named per
resource type in `RESOURCE_NAMES` (a bucket's name, a function's name, a queue's name). As in
CloudFormation, `!Ref` of a queue gives its URL (on the SQS endpoint the stack serves), not its name.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml


class TemplateError(ValueError):
    """The template cannot be read or resolved; the message names the offending place."""


# ---------------------------------------------------------------------------------------------
# YAML with CloudFormation short tags


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation tags; dates stay strings (CloudFormation has no date type)."""


_CfnLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_SHORT_TAGS = ("Ref", "Condition", "Sub", "GetAtt", "Join", "Select", "Split", "If", "Equals", "Not",
               "And", "Or", "FindInMap", "Base64", "GetAZs", "ImportValue", "Cidr", "Transform")


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


for _name in _SHORT_TAGS:
    _CfnLoader.add_constructor(f"!{_name}", lambda ld, nd, _n=_name: _construct_tag(ld, _n, nd))


def load_yaml(path: Path) -> dict[str, Any]:
    """The template as plain data, intrinsics in their long form (`{"Fn::Sub": ...}`)."""
    try:
        data = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: no Resources section")
    return data

# ---------------------------------------------------------------------------------------------
# Intrinsic functions

_NO_VALUE = object()  # AWS::NoValue: the property disappears
_SUB_VAR = re.compile(r"\$\{([^}!]+)\}|\$\{!([^}]*)\}")


class Resolver:
    """Evaluates intrinsic functions against parameters, pseudo parameters and local resource names."""

    def __init__(self, template: dict[str, Any], parameters: Mapping[str, str], stack_name: str,
                 region: str, account_id: str, sqs_endpoint_url: str | None = None) -> None:
        self.template = template
        self.sqs_endpoint_url = (sqs_endpoint_url or f"https://sqs.{region}.amazonaws.com").rstrip("/")
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        self.parameters = dict(parameters)
        self.pseudo = {
            "AWS::StackName": stack_name, "AWS::Region": region, "AWS::AccountId": account_id,
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
            "AWS::NotificationARNs": [],
        }
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()
        self._conditions: dict[str, bool] = {}

    # Public entry points ------------------------------------------------------------------

    def resolve(self, value: Any, where: str) -> Any:
        try:
            out = self._resolve(value)
        except TemplateError as exc:
            raise TemplateError(f"{where}: {exc}") from None
        return None if out is _NO_VALUE else out

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self._resolve(conditions[name]))
        return self._conditions[name]

    def physical_name(self, logical_id: str) -> str:
        """What `!Ref` of a resource gives locally (a function's name, a bucket's name, ...)."""
        if logical_id not in self._names:
            if logical_id in self._naming:
                raise TemplateError(f"circular reference through {logical_id}")
            self._naming.add(logical_id)
            resource = self.resources[logical_id]
            namer = RESOURCE_NAMES.get(resource.get("Type", ""), _default_name)
            self._names[logical_id] = namer(self, logical_id, resource.get("Properties") or {})
            self._naming.discard(logical_id)
        return self._names[logical_id]

    def arn(self, logical_id: str) -> str:
        resource_type = self.resources[logical_id].get("Type", "")
        name = self.physical_name(logical_id)
        region, account = self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"]
        if resource_type in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"arn:aws:lambda:{region}:{account}:function:{name}"
        if resource_type == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if resource_type in ("AWS::SQS::Queue",):
            return f"arn:aws:sqs:{region}:{account}:{name}"
        return f"arn:aws:local:{region}:{account}:{logical_id}/{name}"

    def queue_url(self, logical_id: str) -> str:
        """A queue's URL as SQS (and moto) form it: `<endpoint>/<account>/<name>`."""
        return f"{self.sqs_endpoint_url}/{self.pseudo['AWS::AccountId']}/{self.physical_name(logical_id)}"

    # Evaluation -----------------------------------------------------------------------------

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = (self._resolve(v) for v in value)
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                fn = _FUNCTIONS.get(key)
                if fn is None:
                    raise TemplateError(f"{key} is not supported by the local stack")
                return fn(self, arg)
        out = {k: self._resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"Ref needs a name, got {name!r}")
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            if self.resources[name].get("Type") == "AWS::SQS::Queue":
                return self.queue_url(name)
            return self.physical_name(name)
        raise TemplateError(f"Ref to unknown name {name!r}")

    def get_att(self, arg: Any) -> Any:
        arg = self._resolve(arg)
        if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg)):
            raise TemplateError(f"Fn::GetAtt needs [resource, attribute], got {arg!r}")
        logical_id, attribute = arg
        if logical_id not in self.resources:
            raise TemplateError(f"Fn::GetAtt of unknown resource {logical_id!r}")
        resource_type = self.resources[logical_id].get("Type", "")
        name = self.physical_name(logical_id)
        attrs: dict[str, str] = {"Arn": self.arn(logical_id)}
        if resource_type == "AWS::S3::Bucket":
            attrs |= {"DomainName": f"{name}.s3.amazonaws.com",
                      "RegionalDomainName": f"{name}.s3.{self.pseudo['AWS::Region']}.amazonaws.com"}
        elif resource_type == "AWS::SQS::Queue":
            attrs |= {"QueueName": name, "QueueUrl": self.queue_url(logical_id)}
        if attribute not in attrs:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not supported locally")
        return attrs[attribute]

    def sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                raise TemplateError("Fn::Sub takes a string or [string, {variables}]")
            text, variables = arg[0], {k: self._resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise TemplateError(f"Fn::Sub needs a string, got {text!r}")

        def replace(match: re.Match[str]) -> str:
            if match.group(2) is not None:  # ${!Literal} stays as ${Literal}
                return "${" + match.group(2) + "}"
            name = match.group(1).strip()
            if name in variables:
                return as_text(variables[name])
            if "." in name:  # ${Resource.Attribute}; parameter names have no dots
                return as_text(self.get_att(name.split(".", 1)))
            return as_text(self._ref(name))

        return _SUB_VAR.sub(replace, text)


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TemplateError(f"expected a scalar, got {value!r}")


def _join(r: Resolver, arg: Any) -> str:
    arg = r._resolve(arg)
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
        raise TemplateError("Fn::Join takes [delimiter, [values]]")
    return str(arg[0]).join(as_text(v) for v in arg[1])


def _select(r: Resolver, arg: Any) -> Any:
    arg = r._resolve(arg)
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
        raise TemplateError("Fn::Select takes [index, [values]]")
    return arg[1][int(arg[0])]


def _split(r: Resolver, arg: Any) -> list[str]:
    arg = r._resolve(arg)
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError("Fn::Split takes [delimiter, string]")
    return as_text(arg[1]).split(str(arg[0]))


def _if(r: Resolver, arg: Any) -> Any:
    if not (isinstance(arg, list) and len(arg) == 3):
        raise TemplateError("Fn::If takes [condition, then, else]")
    return r._resolve(arg[1] if r.condition(arg[0]) else arg[2])


def _equals(r: Resolver, arg: Any) -> bool:
    arg = r._resolve(arg)
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError("Fn::Equals takes [a, b]")
    return as_text(arg[0]) == as_text(arg[1])


def _find_in_map(r: Resolver, arg: Any) -> Any:
    arg = r._resolve(arg)
    try:
        return r.template["Mappings"][arg[0]][arg[1]][arg[2]]
    except (KeyError, IndexError, TypeError):
        raise TemplateError(f"Fn::FindInMap {arg!r} not found") from None


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Fn::Sub": Resolver.sub,
    "Fn::GetAtt": Resolver.get_att,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::If": _if,
    "Fn::Equals": _equals,
    "Fn::Not": lambda r, a: not r._resolve(a)[0],
    "Fn::And": lambda r, a: all(r._resolve(a)),
    "Fn::Or": lambda r, a: any(r._resolve(a)),
    "Fn::FindInMap": _find_in_map,
    "Fn::Base64": lambda r, a: base64.b64encode(as_text(r._resolve(a)).encode()).decode(),
    "Fn::GetAZs": lambda r, a: [f"{r.pseudo['AWS::Region']}{z}" for z in "abc"],
}


# ---------------------------------------------------------------------------------------------
# Local names of resources (what !Ref gives)


def _default_name(r: Resolver, logical_id: str, _props: dict[str, Any]) -> str:
    return f"{r.pseudo['AWS::StackName']}-{logical_id}"


def _named_by(prop: str, lower: bool = False) -> Callable[[Resolver, str, dict[str, Any]], str]:
    def namer(r: Resolver, logical_id: str, props: dict[str, Any]) -> str:
        if props.get(prop) is not None:
            return str(r.resolve(props[prop], f"{logical_id}.{prop}"))
        name = f"{r.pseudo['AWS::StackName']}-{logical_id}"
        return name.lower() if lower else name

    return namer


RESOURCE_NAMES: dict[str, Callable[[Resolver, str, dict[str, Any]], str]] = {
    "AWS::Serverless::Function": _named_by("FunctionName"),
    "AWS::S3::Bucket": _named_by("BucketName", lower=True),  # bucket names are lower case
    "AWS::SQS::Queue": _named_by("QueueName"),
    "AWS::Serverless::HttpApi": lambda r, lid, _p: f"local{lid.lower()}",
    "AWS::ApiGatewayV2::Api": lambda r, lid, _p: f"local{lid.lower()}",  # API ids are short, lower case
    "AWS::Serverless::LayerVersion": lambda r, lid, _p: (
        f"arn:aws:lambda:{r.pseudo['AWS::Region']}:{r.pseudo['AWS::AccountId']}:layer:{lid}:1"),
}

