"""Static assets under /static: versioned URLs (a content hash in ?v=) so they can be cached
for a year, and nothing but what `make assets` put in the folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
URL_PREFIX = "/static"


class CachedStatic(StaticFiles):
    """StaticFiles whose answers carry cache headers: immutable when the URL is versioned."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            versioned = b"v=" in scope.get("query_string", b"")
            response.headers["Cache-Control"] = (
                "public, max-age=31536000, immutable" if versioned else "public, max-age=3600"
            )
        return response


class Assets:
    """Versioned URLs of the files in the static folder, hashed once at start-up."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self._versions: dict[str, str] = {}
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                rel = path.relative_to(directory).as_posix()
                self._versions[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    def url(self, name: str) -> str:
        """The URL of an asset; a missing one fails loudly (run `make assets`)."""
        version = self._versions.get(name)
        if version is None:
            raise LookupError(f"asset manquant : {name} (lancez `make assets`)")
        return f"{URL_PREFIX}/{name}?v={version}"

    def __contains__(self, name: str) -> bool:
        return name in self._versions
