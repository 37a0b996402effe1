"""People in the frame, the camera worker's side: the HOG descriptor and scores equal OpenCV
4's (the reference was made once with opencv-python-headless 4.14's HOGDescriptor and is kept
in tests/data), the detector finds a simulator walker and not an empty path, and the worker,
on a real database, proposes the flag on a walker scene and not on an animal's."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from camera import hog, people, store
from camera.worker import CameraWorker, WorkerDeps
from simulators.webcam import animals
from simulators.webcam.scene import Scene, SceneConfig
from simulators.webcam.walkers import Walker
from simulators.webcam.writer import write_video
from tests.camera.factories import camera, unique
from vigie.settings import CameraSettings

Conn = psycopg.Connection[tuple[object, ...]]
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "hog_opencv4_reference.npz"


def test_descriptor_and_window_scores_equal_opencv4() -> None:
    ref = np.load(REFERENCE)
    image = ref["image"]
    mine = hog.window_descriptor(image[:128, :64])
    assert mine.shape == ref["descriptor"].shape == (3780,)
    assert float(np.abs(mine - ref["descriptor"]).max()) < 1e-3
    scores = hog.window_scores(image)
    assert scores.shape == ref["scores"].shape
    assert float(np.abs(scores - ref["scores"]).max()) < 1e-2
    # The layout matters: the same values in another block order score differently.
    weights, bias = hog.svm()
    shuffled = float(hog.blocks(image[:128, :64]).reshape(-1) @ weights.reshape(-1)) + bias
    assert abs(shuffled - float(ref["scores"][0, 0])) > 0.05


def _frames(scene: Scene, times: list[float]) -> list[tuple[float, Any]]:
    return [(t, scene.render(round(t * scene.config.fps))) for t in times]


def test_detector_finds_a_walker_and_not_an_empty_path() -> None:
    walker = Walker(start_s=0.0, duration_s=10.0, x0=250, x1=1050, height=260)
    with_walker = Scene(SceneConfig(seconds=12.0, random_animals=False, walkers=(walker,)))
    empty = Scene(SceneConfig(seconds=12.0, random_animals=False))
    times = [2.5, 5.0, 7.5]
    found = people.propose_images(_frames(with_walker, times), people.PeopleConfig())
    assert found.proposed and found.frames == 3 and found.score > 0
    # The best box is around the walker at its time (truth in reference pixels).
    best = found.boxes[0]
    truth = walker.box(best["t"])
    assert truth is not None
    cx = (best["x"] + best["w"] / 2) * 1280
    assert abs(cx - (truth[0] + truth[2] / 2)) < 80
    assert not people.propose_images(_frames(empty, times), people.PeopleConfig()).proposed


def test_sample_offsets_are_few_and_inside_the_clip() -> None:
    assert people.sample_offsets(8.0, 3.0) == [3.0, 2.0, 6.0]
    assert people.sample_offsets(8.0, 99.0) == [8.0, 2.0, 6.0]
    assert people.sample_offsets(0.0, None) == [0.0]
    assert people.sample_offsets(-5.0, -1.0) == [0.0]


def test_unreadable_clip_gives_no_frames_and_no_proposal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00 ftypisom" + b"x" * 1000)
    proposal = people.propose_clip(bad, 5.0, 1.0, people.PeopleConfig())
    assert proposal == people.Proposal(False, 0.0, (), 0)
    assert people.propose_clip(tmp_path / "missing.mp4", 5.0, 1.0, people.PeopleConfig()).frames == 0


def _run_file(db: Conn, pool: ConnectionPool, tmp_path: Path, video: Path) -> list[dict[str, Any]]:
    cam = camera(unique("sentier"), url=str(video), source_kind="file")
    store.upsert_camera(db, cam)
    cfg = CameraSettings(media_dir=tmp_path / "media", min_free_bytes=0, watchdog_s=5.0)
    worker = CameraWorker(cam, WorkerDeps(cfg, pool, allow_private=True))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert worker.finished.wait(240), "the worker did not finish the file"
    thread.join(timeout=10)
    events = [e for e in store.list_events(db, cam.id) if e["clip_path"]]
    assert events, "no event recorded"
    return [{"event": e, "proposal": store.person_proposal(db, int(e["id"]))} for e in events]


@pytest.mark.timeout(400)
def test_worker_proposes_the_flag_on_a_walker_scene(db: Conn, pool: ConnectionPool, tmp_path: Path) -> None:
    scene = Scene(
        SceneConfig(
            seconds=22.0,
            width=640,
            height=360,
            wind="calm",
            random_animals=False,
            walkers=(Walker(start_s=5.0, duration_s=9.0, x0=200, x1=1100, height=280),),
        )
    )
    video = tmp_path / "walker.mp4"
    write_video(scene, video)
    results = _run_file(db, pool, tmp_path, video)
    proposals = [r["proposal"] for r in results]
    assert all(p is not None for p in proposals), "every closed event is analysed"
    assert any(p["proposed"] for p in proposals), proposals
    best = max(proposals, key=lambda p: p["score"])
    assert best["detector"] == "opencv-hog" and 1 <= best["frames"] <= 3 and best["boxes"]


@pytest.mark.timeout(400)
def test_worker_does_not_propose_on_an_animal_scene(db: Conn, pool: ConnectionPool, tmp_path: Path) -> None:
    scene = Scene(
        SceneConfig(
            seconds=22.0,
            width=640,
            height=360,
            wind="calm",
            random_animals=False,
            planted=(animals.Planted("roe_deer", visible_s=6.0),),
        )
    )
    video = tmp_path / "deer.mp4"
    write_video(scene, video)
    results = _run_file(db, pool, tmp_path, video)
    assert all(r["proposal"] is not None and not r["proposal"]["proposed"] for r in results), results
