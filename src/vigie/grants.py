"""The grants registry: what each service's database role may do, object by object, enforced.

Every table, view, free-standing sequence and function of the schema has one line in a
`NNN_name.grants.toml` file beside the migration that creates it, with a decision for each of
the four service roles (an empty list is a decision: no access). `vigie migrate` re-applies the
whole registry after the numbered migrations (REVOKE everything, then GRANT what is declared),
and refuses to finish while an object has no line, so a new table cannot ship without grants
(tests/shared/test_grants.py says which object and which file).

A sequence owned by a table column (bigserial) follows its table: the roles that may INSERT into
the table may take its next value. Every object is handed to the owner role `vigie_owner`, so no
service role owns anything (an owner bypasses its grants).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from vigie.errors import ConfigError

SERVICES: tuple[str, ...] = ("ingest", "alerts", "camera", "api")
OWNER_ROLE = "vigie_owner"

_FILE = re.compile(r"^(?P<version>\d{3})_[a-z0-9_]+\.grants\.toml$")
_COLUMNS = r"(\s*\(\s*[a-z_][a-z0-9_]*(\s*,\s*[a-z_][a-z0-9_]*)*\s*\))?"
# What may be granted on each kind of object; column lists only where PostgreSQL allows them.
_ALLOWED: dict[str, re.Pattern[str]] = {
    "table": re.compile(rf"^((SELECT|INSERT|UPDATE|REFERENCES){_COLUMNS}|DELETE|TRUNCATE|TRIGGER)$"),
    "view": re.compile(rf"^((SELECT|INSERT|UPDATE){_COLUMNS}|DELETE)$"),
    "sequence": re.compile(r"^(USAGE|SELECT|UPDATE)$"),
    "function": re.compile(r"^EXECUTE$"),
}
_SECTIONS = {"relations": ("table", "view", "sequence"), "functions": ("function",)}


def service_role(service: str) -> str:
    """The NOLOGIN group role that holds a service's grants (created by 090_roles.sql)."""
    if service not in SERVICES:
        raise ConfigError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return f"vigie_{service}"


def login_name(prefix: str, service: str) -> str:
    """The LOGIN role (member of service_role) a service uses in a deployment whose logins
    start with prefix (vigie.logins creates them)."""
    service_role(service)  # validates the service name
    return f"{prefix}{service}"


@dataclass(frozen=True)
class Decision:
    """One object's line: the privileges of each service role, and the file that declares it."""

    section: str  # "relations" or "functions"
    name: str
    privileges: Mapping[str, tuple[str, ...]]
    source: str


@dataclass(frozen=True)
class SchemaObject:
    """A table, view, sequence or function of the schema that the registry must cover."""

    kind: str  # table, view, sequence, function
    name: str
    owner: str
    owned_by_table: str | None = None  # a column's sequence: follows this table

    @property
    def section(self) -> str:
        return "functions" if self.kind == "function" else "relations"


def _parse(source: str, text: str) -> list[Decision]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}; use [relations], [functions]")
    decisions = []
    for section, entries in data.items():
        for name, value in entries.items():
            if not isinstance(value, dict) or set(value) != set(SERVICES):
                raise ConfigError(
                    f"{source}: {name} must give a decision for each of {', '.join(SERVICES)}"
                    " (an empty list means no access)"
                )
            privileges: dict[str, tuple[str, ...]] = {}
            for service, granted in value.items():
                if not isinstance(granted, list) or not all(isinstance(p, str) for p in granted):
                    raise ConfigError(f"{source}: {name}.{service} must be a list of privileges")
                privileges[service] = tuple(" ".join(p.split()) for p in granted)
            decisions.append(Decision(section, name, privileges, source))
    return decisions


def declared() -> dict[tuple[str, str], Decision]:
    """Every line of every *.grants.toml shipped with the migrations, keyed by (section, name)."""
    found: dict[tuple[str, str], Decision] = {}
    files = sorted(
        (e for e in resources.files("vigie.migrations").iterdir() if _FILE.match(e.name)),
        key=lambda e: e.name,
    )
    for entry in files:
        for decision in _parse(entry.name, entry.read_text("utf-8")):
            key = (decision.section, decision.name)
            if key in found:
                raise ConfigError(
                    f"{decision.name} is declared twice: {found[key].source} and {decision.source}"
                )
            found[key] = decision
    return found


_OBJECTS = """
SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence'
       ELSE 'table' END, c.relname, pg_get_userbyid(c.relowner),
       (SELECT t.relname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1)
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                    AND e.objid = c.oid AND e.deptype = 'e')
UNION ALL
SELECT 'function', p.proname, pg_get_userbyid(p.proowner), NULL
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass
                    AND e.objid = p.oid AND e.deptype = 'e')
 ORDER BY 2
"""


def schema_objects(conn: psycopg.Connection[tuple[object, ...]]) -> list[SchemaObject]:
    """The objects of schema public that the registry covers (extension objects excluded)."""
    return [
        SchemaObject(str(kind), str(name), str(owner), str(table) if table else None)
        for kind, name, owner, table in conn.execute(_OBJECTS).fetchall()
    ]


def problems(
    objects: list[SchemaObject], registry: dict[tuple[str, str], Decision]
) -> list[str]:
    """Why this registry does not cover this schema; empty when it does."""
    found: list[str] = []
    by_key = {(o.section, o.name): o for o in objects}
    for obj in objects:
        if obj.kind == "sequence" and obj.owned_by_table:
            continue  # follows its table
        if (obj.section, obj.name) not in registry:
            found.append(
                f"{obj.kind} {obj.name} has no grant decision: add a line for it to [{obj.section}]"
                " in the NNN_name.grants.toml beside the migration that creates it"
                f" (src/vigie/migrations/), with {' = [...], '.join(SERVICES)} = [...]"
            )
    for key, decision in registry.items():
        known = by_key.get(key)
        if known is None:
            found.append(f"{decision.source}: {decision.name} is not in the schema")
            continue
        for service, granted in decision.privileges.items():
            for privilege in granted:
                if not _ALLOWED[known.kind].match(privilege):
                    found.append(
                        f"{decision.source}: {decision.name}.{service}: {privilege!r} cannot be"
                        f" granted on a {known.kind}"
                    )
    return found


def _privilege_sql(privilege: str) -> sql.Composable:
    word, _, columns = privilege.partition("(")
    if not columns:
        return sql.SQL(word.strip())
    names = [c.strip() for c in columns.rstrip(")").split(",")]
    return sql.SQL("{} ({})").format(
        sql.SQL(word.strip()), sql.SQL(", ").join(sql.Identifier(n) for n in names)
    )


def _check_roles(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    wanted = [OWNER_ROLE, *(service_role(s) for s in SERVICES)]
    rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (wanted,)).fetchall()
    missing = sorted(set(wanted) - {str(r[0]) for r in rows})
    if missing:
        raise ConfigError(f"database roles missing: {', '.join(missing)} (090_roles.sql creates them)")


def ensure_group_roles(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create the owner and service group roles where missing, as 090_roles.sql does: for a
    restore on a new server, whose dump names them as owners and grantees (vigie.backup)."""
    for role in (OWNER_ROLE, *(service_role(s) for s in SERVICES)):
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            continue
        try:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            pass  # created meanwhile from another database


def apply_grants(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Hand every object to the owner role and set exactly the declared grants, in one
    transaction; raise ConfigError (changing nothing) if the registry does not cover the schema.
    Returns the number of objects whose grants were set."""
    registry = declared()
    with conn.transaction():
        _check_roles(conn)
        objects = schema_objects(conn)
        issues = problems(objects, registry)
        if issues:
            raise ConfigError("grants registry incomplete:\n  " + "\n  ".join(issues))
        roles = sql.SQL(", ").join(
            [sql.SQL("PUBLIC"), *(sql.Identifier(service_role(s)) for s in SERVICES)]
        )
        owner = sql.Identifier(OWNER_ROLE)
        inserters: dict[str, list[str]] = {}
        for obj in objects:
            if obj.kind == "table" and obj.section == "relations":
                table = registry[("relations", obj.name)].privileges
                inserters[obj.name] = [s for s in SERVICES if any(p.startswith("INSERT") for p in table[s])]
        for obj in objects:
            target = _target(obj)
            if obj.owner != OWNER_ROLE and not obj.owned_by_table:
                # A column's sequence changes owner with its table.
                conn.execute(sql.SQL("ALTER {} OWNER TO {}").format(target, owner))
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(target, roles))
            grants: Mapping[str, tuple[str, ...]]
            if obj.kind == "sequence" and obj.owned_by_table:
                grants = {s: ("USAGE",) for s in inserters.get(obj.owned_by_table, [])}
            else:
                grants = registry[(obj.section, obj.name)].privileges
            for service, granted in grants.items():
                if granted:
                    conn.execute(
                        sql.SQL("GRANT {} ON {} TO {}").format(
                            sql.SQL(", ").join(_privilege_sql(p) for p in granted),
                            target,
                            sql.Identifier(service_role(service)),
                        )
                    )
    return len(objects)


def _target(obj: SchemaObject) -> sql.Composable:
    """`TABLE public.x`, `SEQUENCE public.x` or `FUNCTION public.x` (our functions are not overloaded)."""
    keyword = {"table": "TABLE", "view": "TABLE", "sequence": "SEQUENCE", "function": "FUNCTION"}
    return sql.SQL("{} {}").format(sql.SQL(keyword[obj.kind]), sql.Identifier("public", obj.name))
