"""GraphiQL without the internet: strawberry's page loads React and GraphiQL from unpkg.com,
which a private network cannot reach. The same files (byte for byte: the page's own `integrity`
hashes still check them) are vendored in app/static/graphiql/ and served by the app."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from strawberry.http.ides import get_graphql_ide_html

ASSETS = Path(__file__).resolve().parent.parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql"

# Each CDN address strawberry's page names, and the vendored copy of that exact file.
VENDORED = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": (
        "react-dom.production.min.js"
    ),
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": (
        "plugin-explorer.umd.js"
    ),
}
_CDN = re.compile(r"https://unpkg\.com/[^\"']+")


@cache
def offline_graphiql_html() -> str:
    """Strawberry's GraphiQL page with every CDN address pointing at the vendored copy. A
    strawberry upgrade that names other files fails here, at startup in dev, not in a browser."""
    html = get_graphql_ide_html(graphql_ide="graphiql")
    unknown = sorted(set(_CDN.findall(html)) - VENDORED.keys())
    if unknown:
        raise RuntimeError(f"GraphiQL names assets that are not vendored: {unknown}")
    return _CDN.sub(lambda m: f"{ASSETS_PATH}/{VENDORED[m.group(0)]}", html)
