"""/docs (Swagger UI) and /redoc in a real browser: they render the whole API from assets Watcher
serves itself, and the browser talks to no other origin (no CDN, no fonts, no badge images).

The browser tests are plain `def` tests on a real `watcher serve` (`live_server`); Playwright runs
in the `browser` fixture's own thread (see conftest.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from playwright.sync_api import expect

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def _schema(base_url: str) -> dict:
    response = httpx.get(f"{base_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    """(METHOD, path, operation) for every operation of the schema."""
    return [(method.upper(), path, op) for path, item in schema["paths"].items() for method, op in item.items() if method in HTTP_METHODS]


def test_swagger_ui_renders_every_operation_and_expands_one(live_server, browser):
    operations = _operations(_schema(live_server))
    assert len(operations) > 20  # the whole API, not an empty schema
    expected = sorted((method, path) for method, path, _ in operations)
    # Swagger UI shows an operation once per tag (once if it has none)
    blocks = sum(max(1, len(op.get("tags", []))) for _, _, op in operations)
    method, path, chosen = next((m, p, op) for m, p, op in operations if m == "GET" and op.get("parameters"))

    def inspect(page):
        expect(page.locator(".opblock")).to_have_count(blocks, timeout=30_000)
        rendered = page.eval_on_selector_all(
            ".opblock",
            "blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').textContent, "
            "b.querySelector('.opblock-summary-path').dataset.path])",
        )
        block = page.locator(f".opblock-{method.lower()}").filter(has=page.locator(f'.opblock-summary-path[data-path="{path}"]'))
        expect(block).to_have_count(1)
        expect(block.locator(".opblock-body")).to_have_count(0)  # collapsed until clicked
        block.locator(".opblock-summary").click()
        body = block.locator(".opblock-body")
        expect(body).to_be_visible()
        expect(body.locator(".parameters-container")).to_be_visible()
        parameters = body.locator(".parameters .parameter__name").all_inner_texts()
        expect(body.locator(".responses-wrapper")).to_be_visible()
        responses = body.locator(".responses-table .response .response-col_status").all_inner_texts()
        return rendered, parameters, responses

    visit = browser.visit(live_server, "/docs", inspect)
    rendered, parameters, responses = visit.result
    assert sorted((m, p) for m, p in rendered) == expected
    assert len(rendered) == blocks
    for parameter in chosen["parameters"]:  # names may carry a "*" for required ones
        assert any(text.startswith(parameter["name"]) for text in parameters), (parameter["name"], parameters)
    assert [code.strip() for code in responses] == list(chosen["responses"])


def test_redoc_renders_the_api(live_server, browser):
    schema = _schema(live_server)
    summaries = sorted(op["summary"] for _, _, op in _operations(schema))

    def inspect(page):
        expect(page.locator("h1").first).to_contain_text(schema["info"]["title"], timeout=30_000)
        operations = page.locator("[data-section-id*='/operation/'] h2")
        expect(operations).to_have_count(len(summaries), timeout=30_000)
        return operations.all_inner_texts(), page.locator("[role=menuitem]").all_inner_texts()

    visit = browser.visit(live_server, "/redoc", inspect)
    headings, menu = visit.result
    assert sorted(headings) == summaries
    for summary in summaries:
        assert any(summary in item for item in menu), f"operation {summary!r} missing from ReDoc's menu"


def test_docs_pages_load_nothing_from_other_origins_and_log_no_errors(live_server, browser):
    title = _schema(live_server)["info"]["title"]

    def docs_rendered(page):
        expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)

    def redoc_rendered(page):
        expect(page.locator("h1").first).to_contain_text(title, timeout=30_000)
        expect(page.locator("[role=menuitem]").first).to_be_visible()

    pages = {"/docs": docs_rendered, "/redoc": redoc_rendered}
    for path, rendered in pages.items():
        visit = browser.visit(live_server, path, rendered)
        # the recording works: the page, the schema and the assets were all seen
        assert f"{visit.origin}{path}" in visit.requests
        assert f"{visit.origin}/openapi.json" in visit.requests
        paths = [urlsplit(url).path for url in visit.requests]
        assets = {p.removeprefix("/docs/assets/") for p in paths if p.startswith("/docs/assets/")}
        assert "favicon.png" in assets and any(name.endswith(".js") for name in assets), visit.requests
        assert visit.foreign_requests() == [], f"{path} requested other origins than {visit.origin}"
        assert visit.console_errors == [], f"{path} logged console errors"
        assert visit.page_errors == [], f"{path} raised uncaught errors"


async def test_assets_are_served_locally_and_cacheable(client):
    for name in ASSETS:
        response = await client.get(f"/docs/assets/{name}")
        assert response.status_code == 200, name
        assert len(response.content) > 1000, name
        cache_control = response.headers.get("cache-control", "")
        assert "public" in cache_control and "max-age=" in cache_control, (name, cache_control)
        assert int(cache_control.split("max-age=")[1].split(",")[0]) >= 3600, (name, cache_control)
    assert (await client.get("/docs/assets/no-such-file.js")).status_code == 404
    assert b"cdn.redoc.ly" not in (await client.get("/docs/assets/redoc.standalone.js")).content
    for page in ("/docs", "/redoc"):
        html = await client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "/docs/assets/" in html.text
        assert "https://" not in html.text and "http://" not in html.text, f"{page} points at another origin"
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]
