"""Validate the custom resources of rendered manifests against the Prometheus operator's schemas.

    python deploy/kubernetes/check_custom_resources.py RENDERED.yaml...

kubernetes-validate knows only built-in kinds: for a ServiceMonitor or a PrometheusRule it
warns and passes. This checks those against JSON Schemas made from the operator's CRDs (the
pydantic models of ``cloudcoil-models-prometheus-operator``, generated from the CRDs'
openAPIV3Schema), made strict like ``kubernetes-validate --strict``: an unknown field is an
error. A document of any other kind that kubernetes-validate has no schema for is an error
too, so nothing passes unchecked. Exit status: 0 when every document validates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kv

KUBERNETES_VERSION = "1.30.0"


def say(line: str) -> None:
    sys.stdout.write(line.rstrip("\n") + "\n")


def operator_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    from cloudcoil.models.prometheus_operator import v1  # noqa: PLC0415 - only this command

    kinds = {"ServiceMonitor": v1.ServiceMonitor, "PrometheusRule": v1.PrometheusRule}
    return {
        ("monitoring.coreos.com/v1", kind): strict(model.model_json_schema(by_alias=True))
        for kind, model in kinds.items()
    }


def strict(schema: Any) -> Any:
    """Forbid properties a schema does not name, in every object schema that names some."""
    if isinstance(schema, dict):
        out = {key: strict(value) for key, value in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def describe(error: jsonschema.ValidationError) -> str:
    """The innermost reason (``anyOf`` of optional fields hides it), path and message."""
    while error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    where = ".".join(str(part) for part in error.absolute_path) or "(top)"
    message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
    return f"{where}: {message}"


def builtin(document: dict[str, Any]) -> bool:
    """Whether kubernetes-validate has a schema for this kind (it validated it, then)."""
    try:
        kv.validate(document, KUBERNETES_VERSION, strict=True)
    except kv.SchemaNotFoundError:
        return False
    except jsonschema.ValidationError:
        return True  # known, and reported by kubernetes-validate itself
    return True


def check(path: Path, schemas: dict[tuple[str, str], dict[str, Any]]) -> int:
    failures = 0
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not document:
            continue
        key = (document.get("apiVersion", ""), document.get("kind", ""))
        name = f"{key[1]}/{document.get('metadata', {}).get('name', '?')}"
        if key in schemas:
            validator = jsonschema.Draft202012Validator(schemas[key])
            errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
            for error in errors:
                say(f"ERROR {path}: {name}: {describe(error)}")
            failures += len(errors)
            if not errors:
                say(f"INFO {path}: {name} passed against the operator's {key[0]} schema")
        elif not builtin(document):
            say(f"ERROR {path}: {name}: no schema for {key[0]} {key[1]}")
            failures += 1
    return failures


def main(paths: list[str]) -> int:
    if not paths:
        say(__doc__ or "")
        return 2
    schemas = operator_schemas()
    failures = sum(check(Path(path), schemas) for path in paths)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
