"""The Camtrap DP 1.0.2 checks the tests and `make bench-review` run on an exported package:
datapackage.json against the official profile (jsonschema), the CSV files against the official
table schemas (frictionless), both read from the copies in tests/data/camtrap-dp-1.0.2/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import frictionless
import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT4

SCHEMAS = Path(__file__).resolve().parent / "data" / "camtrap-dp-1.0.2"
BASE = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0.2"


def _registry() -> Registry[Any]:
    """The profile's two outside references, resolved offline: GeoJSON with the schema that
    frictionless ships; the generic Data Package profile with an empty stand-in, since
    frictionless's own package validation (below) checks the Data Package rules."""
    geojson = json.loads((Path(frictionless.__file__).parent / "assets/profiles/geojson.json").read_text())
    return Registry().with_resources(
        [
            ("http://json.schemastore.org/geojson.json", DRAFT4.create_resource(geojson)),
            ("https://specs.frictionlessdata.io/schemas/data-package.json", DRAFT4.create_resource({})),
        ]
    )


def profile_errors(descriptor: dict[str, Any]) -> list[str]:
    """datapackage.json against the official Camtrap DP profile."""
    profile = json.loads((SCHEMAS / "camtrap-dp-profile.json").read_text())
    validator = jsonschema.Draft4Validator(
        profile, registry=_registry(), format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    return [e.message for e in validator.iter_errors(descriptor)]


def table_errors(folder: Path) -> list[str]:
    """The CSV files against the official table schemas (types, constraints, unique and
    foreign keys), with frictionless; the schemas are the copies, read from disk."""
    descriptor = json.loads((folder / "datapackage.json").read_text())
    # The Camtrap DP profile is profile_errors' check (frictionless would fetch it from the web).
    assert descriptor.pop("profile") == f"{BASE}/camtrap-dp-profile.json"
    for resource in descriptor["resources"]:
        name = resource["name"]
        assert resource["schema"] == f"{BASE}/{name}-table-schema.json"
        resource["schema"] = json.loads((SCHEMAS / f"{name}-table-schema.json").read_text())
    report = frictionless.Package(descriptor, basepath=str(folder)).validate()
    return [f"{e.type}: {e.note}" for task in report.tasks for e in task.errors] + [
        f"{e.type}: {e.note}" for e in report.errors
    ]
