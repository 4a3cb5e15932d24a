"""``/v1/docs``: the OpenAPI document as one server-rendered HTML page that needs nothing from the
network (no script, no stylesheet or font from a CDN), so it works on an offline machine.

Routes grouped by tag with their parameters, request body and responses; then every schema with
its properties. ``$ref`` s become links inside the page; the raw document stays at ``/v1/openapi.json``.
"""
from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_METHODS = ("get", "post", "put", "patch", "delete")
_env = Environment(loader=PackageLoader("crmgate.doors.api", "templates"),
                   autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)


def schema_type(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A schema as ``{"text", "ref"}``: a short type (``string, max length 20``, ``array of Outcome``,
    ``A | null``) and, for a ``$ref``, the schema it names (the page links to it)."""
    schema = schema or {}
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return {"text": name, "ref": name}
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            parts = [schema_type(s) for s in schema[key]]
            refs = [p["ref"] for p in parts if p["ref"]]
            joiner = " & " if key == "allOf" else " | "
            return {"text": joiner.join(p["text"] for p in parts), "ref": refs[0] if len(refs) == 1 else None}
    if "enum" in schema:
        return {"text": "one of " + ", ".join(map(str, schema["enum"])), "ref": None}
    if "const" in schema:
        return {"text": f"= {schema['const']}", "ref": None}
    kind = schema.get("type", "any")
    if kind == "array":
        inner = schema_type(schema.get("items"))
        return {"text": f"array of {inner['text']}", "ref": inner["ref"]}
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        inner = schema_type(schema["additionalProperties"])
        return {"text": f"map of {inner['text']}", "ref": inner["ref"]}
    bounds = [f"{word} {schema[key]}" for key, word in (
        ("format", "format"), ("minLength", "min length"), ("maxLength", "max length"), ("minimum", ">="),
        ("maximum", "<="), ("pattern", "matching"), ("minItems", "min items"), ("maxItems", "max items"))
        if key in schema]
    return {"text": ", ".join([str(kind), *bounds]), "ref": None}


def _operations(doc: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = (op.get("requestBody") or {}).get("content", {})
            groups.setdefault((op.get("tags") or ["other"])[0], []).append({
                "id": op.get("operationId") or f"{method}-{path}", "method": method.upper(), "path": path,
                "summary": op.get("summary", ""), "description": op.get("description", ""),
                "auth": bool(op.get("security")),
                "parameters": [{**p, "type": schema_type(p.get("schema"))} for p in op.get("parameters", [])],
                "body": [{"media": media, "type": schema_type(c.get("schema"))} for media, c in body.items()],
                "responses": [{"status": status, "description": r.get("description", ""),
                               "types": [schema_type(c.get("schema")) for c in (r.get("content") or {}).values()]}
                              for status, r in sorted(op.get("responses", {}).items())],
            })
    return list(groups.items())


def _schemas(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, schema in sorted(doc.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        out.append({"name": name, "description": schema.get("description", ""), "type": schema_type(
            schema) if "properties" not in schema else None, "properties": [
            {"name": prop, "required": prop in required, "type": schema_type(s),
             "description": s.get("description", "")} for prop, s in schema.get("properties", {}).items()]})
    return out


def render_docs(doc: dict[str, Any], *, openapi_url: str) -> str:
    """The HTML page for the OpenAPI document ``doc``."""
    return _env.get_template("docs.html").render(
        info=doc.get("info", {}), groups=_operations(doc), schemas=_schemas(doc), openapi_url=openapi_url)
