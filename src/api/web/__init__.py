"""The web app's foundation: one layout, one set of page components, one way to build a page.

See docs/web.md. Pages are server-rendered Jinja2 templates (autoescaped) on the API's own query
functions, with small progressive scripts; every asset is served by Vigie under /static."""
