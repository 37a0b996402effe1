"""Route handlers hold no SQL: they parse, call query functions (docs/api.md), and shape.

An AST walk of every module under src/api/routes: no string literal that reads as SQL, no
`.execute(` / `.executemany(` / `.copy(` / `.cursor(` call, no psycopg import. A query in a
route module fails here and names the file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROUTES = Path(__file__).resolve().parents[2] / "src" / "api" / "routes"
# Upper-case keywords as SQL is written here; docstrings and French messages do not shout.
SQL = re.compile(
    r"\b(SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|FROM\s+\w+|WHERE\s|JOIN\s|"
    r"LISTEN\s|NOTIFY\s|pg_notify|RETURNING\s|ON\s+CONFLICT)"
)
DB_CALLS = frozenset({"execute", "executemany", "copy", "cursor", "fetchone", "fetchall"})


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            found.append(f"{path.name}:{node.lineno}: SQL in a string: {node.value[:60]!r}")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in DB_CALLS:
            assert isinstance(node.func, ast.Attribute)
            found.append(f"{path.name}:{node.lineno}: .{node.func.attr}() in a route module")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if any(n == "psycopg" or n.startswith("psycopg.") for n in names):
                found.append(f"{path.name}:{node.lineno}: psycopg imported in a route module")
    return found


def test_the_walk_sees_route_modules() -> None:
    assert len(list(ROUTES.glob("*.py"))) >= 8


@pytest.mark.parametrize("path", sorted(ROUTES.glob("*.py")), ids=lambda p: p.name)
def test_route_module_holds_no_sql(path: Path) -> None:
    assert _findings(path) == []


def test_the_check_catches_sql(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import psycopg\n"
        "async def h(conn):\n"
        "    await conn.execute('SELECT 1')\n"
        "    q = f\"DELETE FROM rules WHERE id = {1}\"\n",
        encoding="utf-8",
    )
    found = _findings(bad)
    assert any("psycopg" in f for f in found)
    assert any(".execute()" in f for f in found)
    assert sum("SQL in a string" in f for f in found) == 2
