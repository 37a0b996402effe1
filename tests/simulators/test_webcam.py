"""The webcam simulator: determinism, truth, night, rain, video file, MJPEG stream and CLI."""

from __future__ import annotations

import itertools
import json
import socket
import time
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from simulators.webcam.animals import Planted
from simulators.webcam.cli import webcam
from simulators.webcam.families import HELDOUT, TUNING
from simulators.webcam.scene import Scene, SceneConfig, Wind
from simulators.webcam.server import BOUNDARY, MjpegServer
from simulators.webcam.truth import score
from simulators.webcam.weather import KINDS, Episode
from simulators.webcam.writer import write_video

SMALL = SceneConfig(seconds=60, width=320, height=180, seed=4, rain=(10, 20), night_at_s=40)


def test_same_seed_same_frames_and_truth() -> None:
    a, b = Scene(SMALL), Scene(SMALL)
    assert np.array_equal(a.render(77), b.render(77))
    assert a.truth() == b.truth()
    other = Scene(SceneConfig(seconds=60, width=320, height=180, seed=5))
    assert not np.array_equal(a.render(77), other.render(77))


def test_truth_lists_animals_with_intervals_and_normalised_boxes() -> None:
    truth = Scene(SceneConfig(seconds=600, width=320, height=180, seed=1)).truth()
    animals = truth["animals"]
    assert len(animals) >= 5
    assert {a["species"] for a in animals} <= {"roe_deer", "wild_boar", "fox", "hare", "heron"}
    assert any(a["behind_vegetation"] for a in animals)
    for a in animals:
        assert 0 <= a["start_s"] <= a["end_s"] <= 600
        assert a["boxes"]
        for t, x, y, w, h in a["boxes"]:
            assert a["start_s"] <= t <= a["end_s"]
            assert 0 <= x <= 1 and 0 <= y <= 1 and 0 < w <= 1 and 0 < h <= 1
    # Crossings do not overlap: each event can be matched to one animal.
    for first, second in itertools.pairwise(animals):
        assert first["end_s"] < second["start_s"]


def test_an_animal_changes_the_pixels_inside_its_truth_box() -> None:
    cfg = SceneConfig(seconds=120, width=640, height=360, seed=2, wind="calm", clouds=False)
    scene = Scene(cfg)
    a = scene.truth()["animals"][0]
    t, x, y, w, h = a["boxes"][len(a["boxes"]) // 2]
    empty = Scene(SceneConfig(**{**cfg.__dict__, "first_animal_s": 1e9}))
    i = round(t * cfg.fps)
    diff = cv2.absdiff(scene.render(i), empty.render(i))
    x0, y0 = int(x * 640), int(y * 360)
    inside = diff[y0 : y0 + int(h * 360), x0 : x0 + int(w * 640)].mean()
    assert inside > 3 * diff.mean()


def test_night_is_grey_and_noisier_day_is_colour() -> None:
    scene = Scene(SMALL)
    day = scene.render(5 * 5)
    night = scene.render(45 * 5)
    day_sat = cv2.cvtColor(day, cv2.COLOR_BGR2HSV)[:, :, 1].mean()
    night_sat = cv2.cvtColor(night, cv2.COLOR_BGR2HSV)[:, :, 1].mean()
    assert day_sat > 40 and night_sat < 3
    noise_day = cv2.absdiff(scene.render(25), scene.render(26)).mean()
    noise_night = cv2.absdiff(scene.render(226), scene.render(227)).mean()
    assert noise_night > noise_day


def test_rain_streaks_only_while_it_rains() -> None:
    scene = Scene(SceneConfig(seconds=60, width=320, height=180, seed=4, rain=(10, 20)))
    dry = Scene(SceneConfig(seconds=60, width=320, height=180, seed=4))
    assert np.count_nonzero(cv2.absdiff(scene.render(75), dry.render(75))) > 500
    assert np.array_equal(scene.render(25), dry.render(25))


def test_wind_strength_moves_more_pixels() -> None:
    def motion(wind: Wind) -> float:
        s = Scene(
            SceneConfig(
                seconds=60,
                width=320,
                height=180,
                seed=4,
                wind=wind,
                clouds=False,
            )
        )
        return float(cv2.absdiff(s.render(10), s.render(13)).mean())

    assert motion("calm") < motion("breeze") < motion("strong")


def test_video_file_is_h264_with_faststart_and_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "clip.mp4", tmp_path / "clip.json"
    cfg = SceneConfig(seconds=8, width=320, height=180, seed=3)
    assert write_video(Scene(cfg), out, truth) == 40
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (320, 180)
        frames = sum(1 for _ in c.decode(stream))
    assert frames == 40
    head = out.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 4096)
    assert json.loads(truth.read_text())["seconds"] == 8


def test_score_counts_recall_false_events_and_burden() -> None:
    truth = {"seconds": 100.0, "animals": [{"start_s": 10, "end_s": 20}, {"start_s": 60, "end_s": 70}]}
    s = score(truth, [(8.0, 25.0, 11.0), (40.0, 45.0, 40.0)])
    assert s.recall == 0.5 and s.false_events == 1
    assert s.onset_delay_median_s == pytest.approx(1.0)
    assert s.fraction_in_events == pytest.approx(0.22)
    assert s.ideal_fraction == pytest.approx(0.4)


def _read_parts(url: str, n: int) -> list[bytes]:
    parts: list[bytes] = []
    with httpx.stream("GET", url, timeout=10) as r:
        assert r.headers["content-type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        buf = b""
        for chunk in r.iter_bytes():
            buf += chunk
            while True:
                start = buf.find(b"\xff\xd8")
                end = buf.find(b"\xff\xd9", start + 2)
                if start < 0 or end < 0:
                    break
                parts.append(buf[start : end + 2])
                buf = buf[end + 2 :]
            if len(parts) >= n:
                return parts
    return parts


def test_mjpeg_stream_serves_live_jpeg_frames() -> None:
    server = MjpegServer(Scene(SceneConfig(seconds=10, width=320, height=180, fps=10))).start()
    try:
        t = time.monotonic()
        parts = _read_parts(server.url, 5)
        assert len(parts) == 5
        assert time.monotonic() - t < 5
        img = cv2.imdecode(np.frombuffer(parts[-1], np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (180, 320, 3)
        snap = httpx.get(f"http://127.0.0.1:{server.port}/snapshot.jpg", timeout=5)
        assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
        assert httpx.get(f"http://127.0.0.1:{server.port}/nope", timeout=5).status_code == 404
    finally:
        server.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
        pass


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("webcam")(webcam)
    app.command("noop")(lambda: None)
    return app


def test_cli_writes_video_and_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "w.mp4", tmp_path / "w.json"
    res = CliRunner().invoke(
        _cli(),
        [
            "webcam",
            "--out",
            str(out),
            "--truth",
            str(truth),
            "--minutes",
            "0.2",
            "--width",
            "160",
            "--height",
            "96",
            "--wind",
            "strong",
            "--seed",
            "9",
        ],
    )
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 0
    assert json.loads(truth.read_text())["wind"] == "strong"


@pytest.mark.parametrize(
    "args",
    [
        ["webcam"],  # neither --out nor --serve
        ["webcam", "--out", "x.mp4", "--wind", "hurricane"],
        ["webcam", "--out", "x.mp4", "--fps", "0"],
        ["webcam", "--out", "x.mp4", "--width", "99999"],
        ["webcam", "--out", "x.mp4", "--habitat", "desert"],
    ],
)
def test_cli_refuses_bad_options(args: list[str]) -> None:
    res = CliRunner().invoke(_cli(), args)
    assert res.exit_code == 2


def test_cloud_shadows_drift_without_ever_jumping() -> None:
    """The shade field moves a little each frame; it used to wrap and jump every 137 s."""
    scene = Scene(SceneConfig(seconds=400, width=160, height=90, seed=11, first_animal_s=1e9))
    flat = np.full((90, 160, 3), 200, np.uint8)
    prev = None
    worst = 0.0
    for i in range(0, 2000, 1):
        light = scene._light(flat, i / 5).astype(np.float32)
        if prev is not None:
            worst = max(worst, float(np.abs(light - prev).mean()))
        prev = light
    # 0.35 noise px/s over 5 fps moves the field a fraction of a pixel per frame.
    assert worst < 1.0


# -- weather episodes, IR off, planted animals, scene families -----------------------------

BASE = {"seconds": 60, "width": 320, "height": 180, "seed": 4}


@pytest.mark.parametrize("kind", KINDS)
def test_each_episode_changes_the_picture_only_while_it_lasts(kind: str) -> None:
    plain = Scene(SceneConfig(**BASE))  # type: ignore[arg-type]
    wet = Scene(SceneConfig(**BASE, episodes=(Episode(kind, 20.0, 40.0),)))  # type: ignore[arg-type]
    during, before = 35 * 5, 10 * 5
    assert np.array_equal(plain.render(before), wet.render(before))
    assert np.count_nonzero(cv2.absdiff(plain.render(during), wet.render(during))) > 300
    assert wet.truth()["changes"] == [
        {"t": 20.0, "change": f"{kind}_begin"},
        {"t": 40.0, "change": f"{kind}_end"},
    ]


def test_a_scenario_without_episodes_renders_as_before() -> None:
    # Episodes and planted animals draw from their own generators: the old scenarios' frames
    # and animal schedule must not move (the bench's cached footage and figures rely on it).
    a = Scene(SMALL)
    b = Scene(SceneConfig(**{**SMALL.__dict__, "episodes": (Episode("fog", 50.0, 55.0),)}))
    assert np.array_equal(a.render(120), b.render(120))
    assert [x["start_s"] for x in a.truth()["animals"]] == [x["start_s"] for x in b.truth()["animals"]]


def test_dawn_switches_the_ir_off_again() -> None:
    scene = Scene(SceneConfig(**BASE, night_at_s=20.0, dawn_at_s=40.0))  # type: ignore[arg-type]
    assert scene.is_night(30.0) and not scene.is_night(45.0) and not scene.is_night(10.0)
    night, day = scene.render(30 * 5), scene.render(45 * 5)
    assert float(np.std(night.astype(np.int16)[..., 2] - night[..., 0])) < 2.0
    assert float(np.std(day.astype(np.int16)[..., 2] - day[..., 0])) > 5.0
    assert [c["change"] for c in scene.truth()["changes"]] == ["ir_on", "ir_off"]


def test_planted_animals_appear_when_and_as_planted() -> None:
    planted = (
        Planted("fox", 20.0, depth=0.1, after="rain_begin", delay_s=1.0, reach=300.0),
        Planted("roe_deer", 45.0, depth=0.9, camouflage=0.8, from_left=False, reach=300.0),
    )
    scene = Scene(SceneConfig(**BASE, planted=planted, random_animals=False))  # type: ignore[arg-type]
    animals = scene.truth()["animals"]
    assert [a["species"] for a in animals] == ["fox", "roe_deer"]
    assert abs(animals[0]["start_s"] - 20.0) <= 0.4 and abs(animals[1]["start_s"] - 45.0) <= 0.4
    assert animals[0]["planted"] == {"after": "rain_begin", "delay_s": 1.0, "camouflage": 0.0, "depth": 0.1}
    assert animals[1]["scale"] > 2 * animals[0]["scale"]  # near is larger than far
    # It turns back: it leaves the frame on the side it came in from.
    assert animals[1]["boxes"][0][1] > 0.5 and animals[1]["boxes"][-1][1] > 0.5


def test_camouflage_brings_an_animal_closer_to_the_ground_colour() -> None:
    def contrast(camo: float) -> float:
        p = (Planted("roe_deer", 10.0, depth=0.8, camouflage=camo, reach=600.0),)
        with_it = Scene(SceneConfig(**BASE, planted=p, random_animals=False))  # type: ignore[arg-type]
        without = Scene(SceneConfig(**BASE, random_animals=False))  # type: ignore[arg-type]
        i = int(with_it.truth()["animals"][0]["start_s"] * 5) + 15
        return float(cv2.absdiff(with_it.render(i), without.render(i)).sum())

    # The ground is textured and the legs stay darker, so the difference shrinks, not vanishes.
    assert contrast(0.8) < 0.8 * contrast(0.0)


def test_families_are_separate_and_plant_after_every_change() -> None:
    assert not set(TUNING) & set(HELDOUT)
    assert len(HELDOUT) >= 3
    for family in (*TUNING.values(), *HELDOUT.values()):
        cfg = family.build(5, 320, 180)
        kinds = {ep.kind for ep in cfg.episodes}
        assert cfg.night_at_s is not None, family.name
        # An animal is in view as the camera switches to IR (planted for the switch, or for a
        # dusk that ends at the same moment).
        assert any(abs(p.visible_s - cfg.night_at_s) <= 2.0 for p in cfg.planted), family.name
        assert {p.delay_s for p in cfg.planted} & {0.5, 1.0, 1.5, 2.0}, family.name
        assert kinds & {"streaks", "lens_drops", "drizzle", "snow"}, family.name
    held_kinds = {ep.kind for f in HELDOUT.values() for ep in f.build(5, 320, 180).episodes}
    assert {"streaks", "lens_drops", "drizzle", "fog", "dusk", "snow", "low_sun"} <= held_kinds
