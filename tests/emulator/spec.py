"""Bot API method specification: which methods exist, their parameters and types, and value coercion.

Primary source: /work/shared/data/telegram-bot-api-spec.json (Bot API 10.1). Parameters that only newer
API versions know (aiogram's butcher schema and aiogram's own method models) are accepted as well, so a bot
built on a newer aiogram is not reported for parameters real Telegram accepts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(os.environ.get("TELEGRAM_SPEC_DIR", "/work/shared/data"))
SPEC_FILE = DATA_DIR / "telegram-bot-api-spec.json"
BUTCHER_FILE = DATA_DIR / "aiogram-butcher-schema.json"


@dataclass
class ParamSpec:
    name: str
    types: list[str]
    required: bool


@dataclass
class MethodSpec:
    name: str
    params: dict[str, ParamSpec] = field(default_factory=dict)
    returns: list[str] = field(default_factory=list)


class ParamError(ValueError):
    """Invalid parameter value; the message is the Bot API description without the 'Bad Request: ' prefix."""


@dataclass
class ApiSpec:
    methods: dict[str, MethodSpec]
    types: dict[str, Any]
    by_lower: dict[str, str]

    def resolve(self, name: str) -> MethodSpec | None:
        canonical = self.by_lower.get(name.lower())
        return self.methods.get(canonical) if canonical else None


def _split_types(raw: str) -> list[str]:
    # butcher style: "Integer or String", "InputFile or String", "Array of X"
    parts = [p.strip() for p in raw.replace(" and ", " or ").split(" or ")]
    return [p for p in parts if p]


@lru_cache(maxsize=1)
def load_spec() -> ApiSpec:
    data = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    methods: dict[str, MethodSpec] = {}
    for name, m in data["methods"].items():
        spec = MethodSpec(name=name, returns=list(m.get("returns", [])))
        for f in m.get("fields", []):
            spec.params[f["name"]] = ParamSpec(f["name"], list(f["types"]), bool(f["required"]))
        methods[name] = spec
    # Newer parameters/methods from aiogram's schema: optional only, never change required-ness.
    if BUTCHER_FILE.exists():
        butcher = json.loads(BUTCHER_FILE.read_text(encoding="utf-8"))
        for section in butcher.get("items", []):
            for child in section.get("children", []):
                name = child.get("name", "")
                if not name or not name[0].islower():
                    continue
                spec = methods.setdefault(name, MethodSpec(name=name))
                for ann in child.get("annotations", []):
                    if ann["name"] not in spec.params:
                        spec.params[ann["name"]] = ParamSpec(ann["name"], _split_types(ann["type"]), False)
    _merge_aiogram_methods(methods)
    by_lower = {name.lower(): name for name in methods}
    return ApiSpec(methods=methods, types=data["types"], by_lower=by_lower)


def _merge_aiogram_methods(methods: dict[str, MethodSpec]) -> None:
    """Parameters aiogram itself may send (aiogram can be newer than both schema files)."""
    try:
        import aiogram.methods as am
    except ImportError:  # pragma: no cover
        return
    for attr in dir(am):
        cls = getattr(am, attr)
        api_name = getattr(cls, "__api_method__", None)
        if not isinstance(api_name, str) or not hasattr(cls, "model_fields"):
            continue
        spec = methods.setdefault(api_name, MethodSpec(name=api_name))
        for fname in cls.model_fields:
            if fname not in spec.params:
                spec.params[fname] = ParamSpec(fname, ["String"], False)
                spec.params[fname].types = ["Any"]


# --------------------------------------------------------------------------------------------------------------
# Coercion of raw request values (form strings or JSON values) to Python values
# --------------------------------------------------------------------------------------------------------------

_PRIMITIVES = {"Integer", "String", "Boolean", "Float", "Float number", "True"}


def _coerce_primitive(name: str, type_name: str, value: Any) -> Any:
    if type_name == "Integer":
        if isinstance(value, bool):
            raise ParamError(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ParamError(f'field "{name}" must be of type Integer')
    if type_name in ("Float", "Float number"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ParamError(f'field "{name}" must be of type Float')
    if type_name in ("Boolean", "True"):
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise ParamError(f'field "{name}" must be of type Boolean')
    if type_name == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ParamError(f'field "{name}" must be of type String')
    return value


def coerce_param(param: ParamSpec, value: Any) -> Any:
    """Convert a raw value to the spec type; objects/arrays may arrive JSON-encoded in form fields."""
    types = param.types
    if "Any" in types:
        if isinstance(value, str) and value[:1] in "[{":
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    errors: list[str] = []
    # Try primitives first, in spec order ("Integer or String" accepts both)
    for t in types:
        if t in _PRIMITIVES:
            try:
                return _coerce_primitive(param.name, t, value)
            except ParamError as exc:
                errors.append(str(exc))
        elif t == "InputFile":
            if isinstance(value, str):
                return value
    complex_types = [t for t in types if t not in _PRIMITIVES and t != "InputFile"]
    if complex_types:
        decoded = value
        if isinstance(value, str):
            try:
                decoded = json.loads(value)
            except ValueError as exc:
                if errors:
                    raise ParamError(errors[0]) from exc
                raise ParamError(f"can't parse {param.name} JSON object") from exc
        want_array = any(t.startswith("Array of") for t in complex_types)
        want_object = any(not t.startswith("Array of") for t in complex_types)
        if isinstance(decoded, list) and want_array:
            inner = complex_types[0][len("Array of ") :] if complex_types[0].startswith("Array of") else ""
            if inner in _PRIMITIVES:
                return [_coerce_primitive(param.name, inner, v) for v in decoded]
            if inner.startswith("Array of"):
                if not all(isinstance(v, list) for v in decoded):
                    raise ParamError(f'field "{param.name}" must be an Array of Arrays')
            elif inner and not all(isinstance(v, dict) for v in decoded):
                raise ParamError(f"can't parse {param.name} JSON object")
            return decoded
        if isinstance(decoded, dict) and want_object:
            return decoded
        if errors:
            raise ParamError(errors[0])
        kind = "an Array" if want_array and not want_object else "an Object"
        raise ParamError(f'field "{param.name}" must be {kind}')
    if errors:
        raise ParamError(errors[0])
    return value
