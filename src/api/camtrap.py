"""The Camtrap DP 1.0.2 package (https://camtrap-dp.tdwg.org): a zip with datapackage.json,
deployments.csv, media.csv and observations.csv (and the clips, with media=files), written
member by member as the rows stream from the database.

The zip goes to a sink that keeps only what was written since the last chunk was sent: Python's
zipfile writes to an unseekable output with data descriptors, so nothing is ever rewound and
the package is never whole in memory (one database batch, or one 1 MiB block of a clip)."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from anyio import to_thread
from psycopg_pool import AsyncConnectionPool

from api import blur, media_files
from api.queries import camtrap as queries
from vigie import species

VERSION = "1.0.2"
BASE = f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{VERSION}"
PROFILE = f"{BASE}/camtrap-dp-profile.json"
TABLES = ("deployments", "media", "observations")
FILE_BLOCK = 1024 * 1024

DEPLOYMENT_FIELDS = (
    "deploymentID",
    "locationID",
    "locationName",
    "latitude",
    "longitude",
    "coordinateUncertainty",
    "deploymentStart",
    "deploymentEnd",
    "setupBy",
    "cameraID",
    "cameraModel",
    "cameraDelay",
    "cameraHeight",
    "cameraDepth",
    "cameraTilt",
    "cameraHeading",
    "detectionDistance",
    "timestampIssues",
    "baitUse",
    "featureType",
    "habitat",
    "deploymentGroups",
    "deploymentTags",
    "deploymentComments",
)
MEDIA_FIELDS = (
    "mediaID",
    "deploymentID",
    "captureMethod",
    "timestamp",
    "filePath",
    "filePublic",
    "fileName",
    "fileMediatype",
    "exifData",
    "favorite",
    "mediaComments",
)
OBSERVATION_FIELDS = (
    "observationID",
    "deploymentID",
    "mediaID",
    "eventID",
    "eventStart",
    "eventEnd",
    "observationLevel",
    "observationType",
    "cameraSetupType",
    "scientificName",
    "count",
    "lifeStage",
    "sex",
    "behavior",
    "individualID",
    "individualPositionRadius",
    "individualPositionAngle",
    "individualSpeed",
    "bboxX",
    "bboxY",
    "bboxWidth",
    "bboxHeight",
    "classificationMethod",
    "classifiedBy",
    "classificationTimestamp",
    "classificationProbability",
    "observationTags",
    "observationComments",
)
PROJECT = {
    "title": "Vigie : suivi de la faune par pièges photographiques (vallées de l'Oise)",
    "acronym": "Vigie",
    "description": "Clips de caméras de surveillance des berges, enregistrés au mouvement par Vigie et"
    " identifiés par des naturalistes (chaque observation proposée est validée par un second naturaliste).",
    "samplingDesign": "opportunistic",
    "captureMethod": ["activityDetection"],
    "observationLevel": ["event"],
}
# Camtrap DP's taxonRank values; the species file's other ranks are left out of the list.
RANKS = {"kingdom", "phylum", "class", "order", "family", "genus", "species", "subspecies"}


@dataclass(frozen=True)
class Request:
    """What to export: a range on the events' start, deployments, and how media are given."""

    start: datetime | None
    end: datetime | None
    deployments: list[dict[str, Any]]
    media: Literal["url", "files"]
    public_url: str
    media_dir: Path
    exported_by: str
    # An admin's choice: events with a person are in, their clips blurred (api.blur).
    include_people: bool = False

    @property
    def deployment_ids(self) -> list[int]:
        return [int(d["id"]) for d in self.deployments]


class _Sink:
    """An unseekable output that hands over what was written since the last take()."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def ts(value: datetime) -> str:
    """Camtrap DP's datetime (%Y-%m-%dT%H:%M:%S%z: whole seconds), in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float | int | None) -> str:
    if value is None:
        return ""
    return repr(round(value, 6)) if isinstance(value, float) else str(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def deployment_id(dep_id: int) -> str:
    return f"dep-{dep_id}"


def media_id(event_id: int) -> str:
    return f"media-{event_id}"


def deployment_end(dep: dict[str, Any], end: datetime | None, now: datetime) -> datetime:
    """deploymentEnd is required: a deployment still running ends, in the package, at the
    export's end (or now, whichever is sooner), never before it started."""
    started: datetime = dep["start_ts"]
    ended: datetime | None = dep["end_ts"]
    if ended is not None:
        return ended
    stop = min(end, now) if end is not None else now
    return max(stop, started)


def deployment_row(dep: dict[str, Any], end: datetime | None, now: datetime) -> dict[str, str]:
    return {
        "deploymentID": deployment_id(int(dep["id"])),
        "locationName": dep["location_name"] or "",
        "latitude": _num(dep["lat"]),
        "longitude": _num(dep["lon"]),
        "coordinateUncertainty": _num(dep["coordinate_uncertainty_m"]),
        "deploymentStart": ts(dep["start_ts"]),
        "deploymentEnd": ts(deployment_end(dep, end, now)),
        "setupBy": dep["setup_by"] or "",
        "cameraID": dep["camera_id"],
        "cameraHeight": _num(dep["camera_height_m"]),
        "cameraTilt": _num(dep["camera_tilt_deg"]),
        "cameraHeading": _num(dep["camera_heading_deg"]),
        "featureType": dep["feature_type"] or "",
        "habitat": dep["habitat"] or "",
        "deploymentComments": dep["comments"] or "",
    }


def clip_url(public_url: str, event_id: int, *, blurred: bool = False) -> str:
    """The clip's address on the API (it needs a signed-in reader: filePublic is false); the
    blurred rendition's for an event with a person."""
    return f"{public_url.rstrip('/')}/api/v1/events/{event_id}/{'blurred-clip' if blurred else 'clip'}"


def zip_clip_path(event_id: int) -> str:
    """The clip's path inside the zip: made from the id, never from a stored name."""
    return f"media/{media_id(event_id)}.mp4"


def media_row(event: dict[str, Any], req: Request, in_zip: set[int]) -> dict[str, str]:
    event_id = int(event["id"])
    blurred = bool(event.get("person"))
    in_file = event_id in in_zip
    path = zip_clip_path(event_id) if in_file else clip_url(req.public_url, event_id, blurred=blurred)
    return {
        "mediaID": media_id(event_id),
        "deploymentID": deployment_id(int(event["deployment_id"])),
        "captureMethod": "activityDetection",
        "timestamp": ts(event["clip_ts"]),
        "filePath": path,
        "filePublic": "false",
        "fileName": (Path(str(event["clip_path"])).stem + (blur.SUFFIX if blurred else ".mp4"))[:200],
        "fileMediatype": "video/mp4",
        "favorite": _bool(bool(event["favourite"])),
    }


def observation_row(obs: dict[str, Any]) -> dict[str, str]:
    # The observation's own span inside the clip; the whole event's when none was drawn.
    start = obs["event_start"] or obs["ev_start"]
    end = obs["event_end"] or obs["ev_end"] or start
    end = max(end, start)
    tags = [f"validation:{obs['status']}"]
    if obs["validated_by"]:
        tags.append(f"validatedBy:{obs['validated_by']}")
    return {
        "observationID": f"obs-{obs['id']}",
        "deploymentID": deployment_id(int(obs["deployment_id"])),
        "mediaID": media_id(int(obs["event_id"])) if obs["has_clip"] else "",
        "eventID": f"event-{obs['event_id']}",
        "eventStart": ts(start),
        "eventEnd": ts(end),
        "observationLevel": "event",
        "observationType": obs["observation_type"],
        "scientificName": obs["scientific_name"] or "",
        "count": _num(obs["count"]),
        "lifeStage": obs["life_stage"] or "",
        "sex": obs["sex"] or "",
        "behavior": obs["behavior"] or "",
        "individualID": obs["individual_id"] or "",
        "bboxX": _num(obs["bbox_x"]),
        "bboxY": _num(obs["bbox_y"]),
        "bboxWidth": _num(obs["bbox_w"]),
        "bboxHeight": _num(obs["bbox_h"]),
        "classificationMethod": "human",
        "classifiedBy": obs["classified_by"],
        "classificationTimestamp": ts(obs["classification_ts"]),
        "observationTags": " | ".join(tags),
        "observationComments": obs["comments"] or "",
    }


def taxon(name: str) -> dict[str, Any]:
    """The taxonomic entry of a name, from the species file where it is listed."""
    found = species.lookup(name)
    if found is None:
        return {"scientificName": name}
    entry: dict[str, Any] = {"scientificName": found.scientific_name, "kingdom": "Animalia"}
    if found.gbif_key is not None:
        entry["taxonID"] = f"https://www.gbif.org/species/{found.gbif_key}"
    if found.rank in RANKS:
        entry["taxonRank"] = found.rank
    if found.taxon_class and found.taxon_class != found.scientific_name:
        entry["class"] = found.taxon_class
    entry["vernacularNames"] = {"fra": found.vernacular_name}
    return entry


def spatial(deps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The deployments' bounding box as a GeoJSON polygon (a point when there is one place)."""
    lons = [float(d["lon"]) for d in deps]
    lats = [float(d["lat"]) for d in deps]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    if west == east and south == north:
        return {"type": "Point", "coordinates": [west, south]}
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def descriptor(
    req: Request, now: datetime, taxa: Sequence[str], contributors: Sequence[str], individuals: bool
) -> dict[str, Any]:
    """datapackage.json."""
    starts = [d["start_ts"] for d in req.deployments]
    ends = [deployment_end(d, req.end, now) for d in req.deployments]
    last = max(ends)
    # The range's start, or the first deployment's if later; never after the last end (a
    # running deployment ends at the export's end or now, the sooner).
    first = min(max(min(starts), req.start) if req.start else min(starts), last)
    resources = [
        {
            "name": name,
            "path": f"{name}.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": f"{BASE}/{name}-table-schema.json",
        }
        for name in TABLES
    ]
    people = [{"title": req.exported_by, "role": "contact"}]
    people += [{"title": who, "role": "contributor"} for who in contributors if who != req.exported_by]
    return {
        "resources": resources,
        "profile": PROFILE,
        "name": f"vigie-camtrap-{now:%Y%m%d-%H%M%S}",
        "id": str(uuid.uuid4()),
        "created": ts(now),
        "title": f"Vigie : observations de faune du {first:%d/%m/%Y} au {last:%d/%m/%Y}",
        "contributors": people,
        "project": {**PROJECT, "individualAnimals": individuals},
        "spatial": spatial(req.deployments),
        "temporal": {
            "start": first.astimezone(UTC).date().isoformat(),
            "end": last.astimezone(UTC).date().isoformat(),
        },
        "taxonomic": [taxon(n) for n in sorted(taxa)],
    }


def _csv_member(zf: zipfile.ZipFile, name: str, fields: Sequence[str]) -> tuple[IO[str], Any]:
    info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    member = zf.open(info, "w", force_zip64=True)
    text = io.TextIOWrapper(member, encoding="utf-8", newline="")
    writer = csv.DictWriter(text, fieldnames=list(fields), lineterminator="\r\n", extrasaction="raise")
    writer.writeheader()
    return text, writer


def _read_block(handle: IO[bytes]) -> bytes:
    return handle.read(FILE_BLOCK)


async def package(pool: AsyncConnectionPool, req: Request) -> AsyncIterator[bytes]:
    """The zip, chunk by chunk: deployments.csv, the clips (media=files), media.csv,
    observations.csv, then datapackage.json (last: its taxonomic list and contributors are the
    observations' own, gathered as they stream)."""
    now = datetime.now(UTC)
    sink = _Sink()
    zf = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
    ids = req.deployment_ids
    text, writer = _csv_member(zf, "deployments.csv", DEPLOYMENT_FIELDS)
    for dep in req.deployments:
        writer.writerow(deployment_row(dep, req.end, now))
    text.close()
    yield sink.take()
    in_zip: set[int] = set()
    taxa: set[str] = set()
    people: dict[str, None] = {}
    individuals = False
    async with pool.connection() as conn:
        if req.media == "files":
            async for batch in queries.media(conn, req.start, req.end, ids, req.include_people):
                for event in batch:
                    path = media_files.inside(req.media_dir, event["clip_path"])
                    if path is not None and event["person"]:
                        # Only ever the blurred rendition of a clip with a person in it; given
                        # by URL (the blurred one) when it cannot be made.
                        person_boxes, motion_boxes = await queries.blur_boxes(conn, int(event["id"]))
                        path = await to_thread.run_sync(blur.make_rendition, path, person_boxes, motion_boxes)
                    if path is None:
                        continue  # missing or outside the media directory: given by URL instead
                    info = zipfile.ZipInfo(zip_clip_path(int(event["id"])), date_time=now.timetuple()[:6])
                    info.compress_type = zipfile.ZIP_STORED  # an MP4 is compressed already
                    with path.open("rb") as handle, zf.open(info, "w", force_zip64=True) as member:
                        while block := await to_thread.run_sync(_read_block, handle):
                            member.write(block)
                            yield sink.take()
                    in_zip.add(int(event["id"]))
                yield sink.take()
        text, writer = _csv_member(zf, "media.csv", MEDIA_FIELDS)
        async for batch in queries.media(conn, req.start, req.end, ids, req.include_people):
            writer.writerows(media_row(e, req, in_zip) for e in batch)
            text.flush()
            yield sink.take()
        text.close()
        text, writer = _csv_member(zf, "observations.csv", OBSERVATION_FIELDS)
        async for batch in queries.observations(conn, req.start, req.end, ids, req.include_people):
            for obs in batch:
                writer.writerow(observation_row(obs))
                if obs["scientific_name"]:
                    taxa.add(obs["scientific_name"])
                people[obs["classified_by"]] = None
                if obs["validated_by"]:
                    people[obs["validated_by"]] = None
                individuals = individuals or bool(obs["individual_id"])
            text.flush()
            yield sink.take()
        text.close()
    meta = descriptor(req, now, sorted(taxa), list(people), individuals)
    zf.writestr("datapackage.json", json.dumps(meta, ensure_ascii=False, indent=2))
    zf.close()
    yield sink.take()
