"""/v1/docs is one self-contained HTML page: it loads nothing from the network (no CDN), and it
documents every route, parameter and schema of the OpenAPI document."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from crmgate.doors.api.docs_page import schema_type

#: what would make a browser fetch something: any absolute URL, or a protocol-relative one
EXTERNAL = re.compile(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


class Page(HTMLParser):
    """The parts of a page that matter here: element ids, links, and the tags that load resources."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.loaders: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self._open: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "section" and a.get("id"):
            self._open.append(a["id"])
            self.sections[a["id"]] = []
        if a.get("href") is not None:
            self.hrefs.append(a["href"])
        if tag in ("script", "link", "img", "iframe", "object", "embed", "source", "video", "audio") or "src" in a:
            self.loaders.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for sid in self._open:
            self.sections[sid].append(data)

    def text_of(self, sid: str) -> str:
        return " ".join(" ".join(self.sections[sid]).split())


@pytest.fixture
def page(client) -> tuple[str, Page]:
    r = client.get("/v1/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    return r.text, Page(r.text)


def test_the_page_needs_no_network(page) -> None:
    """No script, stylesheet, image or frame, no absolute URL; every link stays on the page or the server."""
    text, parsed = page
    assert parsed.loaders == []
    assert EXTERNAL.findall(text) == []
    for href in parsed.hrefs:
        assert href == "/v1/openapi.json" or href.lstrip("#") in parsed.ids, href
    assert any(h.startswith("#schema-") for h in parsed.hrefs)


def test_the_page_documents_every_route_parameter_and_schema(client, page) -> None:
    """Each operation has its section with method, path and parameters; each schema its section and properties."""
    _text, parsed = page
    doc = client.get("/v1/openapi.json").json()
    ops = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]
    assert len(ops) >= 14
    for path, method, op in ops:
        section = parsed.text_of(op["operationId"])
        assert f"{method.upper()} {path}" in section
        for param in op.get("parameters", []):
            assert param["name"] in section, (path, param["name"])
        assert ("token" in section) == bool(op.get("security")), path
    for name, schema in doc["components"]["schemas"].items():
        section = parsed.text_of(f"schema-{name}")
        for prop in schema.get("properties", {}):
            assert prop in section, (name, prop)


def test_no_served_page_names_a_cdn(client, admin) -> None:
    """Neither the docs page nor any other page the app serves points at an external host; FastAPI's
    own CDN-backed pages are not mounted anywhere."""
    paths = ["/v1/docs", "/v1/openapi.json", "/v1/health", "/v1/whoami", "/v1/capabilities", "/v1/approvals"]
    for path in paths:
        r = client.get(path, headers=admin)
        assert r.status_code == 200, path
        assert EXTERNAL.findall(r.text) == [], path
    for path in ("/docs", "/redoc", "/v1/redoc", "/docs/oauth2-redirect", "/v1/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path


@pytest.mark.parametrize(("schema", "text", "ref"), [
    ({"$ref": "#/components/schemas/Outcome"}, "Outcome", "Outcome"),
    ({"type": "array", "items": {"$ref": "#/components/schemas/Outcome"}}, "array of Outcome", "Outcome"),
    ({"anyOf": [{"type": "string", "maxLength": 20}, {"type": "null"}]}, "string, max length 20 | null", None),
    ({"enum": ["json", "csv"]}, "one of json, csv", None),
    ({"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}, "map of integer, >= 0", None),
])
def test_schema_types_read_briefly(schema, text, ref) -> None:
    """Types print short and keep the schema they name, for the link."""
    assert schema_type(schema) == {"text": text, "ref": ref}
