"""/docs: Swagger UI from our own static folder, under the CSP that allows no outside origin."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, Request, expect

from tests.web.conftest import Site


def test_api_docs_render_every_route_group_offline_and_within_the_csp(page: Page, site: Site) -> None:
    outside: list[str] = []
    refused: list[str] = []

    def on_request(request: Request) -> None:
        if not request.url.startswith(site.url) and not request.url.startswith("data:"):
            outside.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.goto(f"{site.url}/docs")
    # Swagger UI has read /openapi.json and drawn its operations: the stations' list is one.
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/stations").first).to_be_visible()
    assert page.locator(".opblock").count() > 40
    assert outside == [], f"requêtes hors de Vigie : {outside}"
    assert refused == [], f"refusé par la CSP : {refused}"


def test_api_docs_page_says_what_it_needs_without_scripts(site: Site, page: Page) -> None:
    page.context.set_extra_http_headers({})
    response = page.request.get(f"{site.url}/docs")
    assert response.status == 200
    body = response.text()
    assert "/openapi.json" in body and "demande JavaScript" in body
    assert "cdn" not in body.lower()
