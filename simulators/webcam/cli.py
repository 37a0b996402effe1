"""`vigie simulate webcam`: write a scenario to a video file with truth, or serve it live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from simulators.webcam.scene import Scene, SceneConfig, Wind
from simulators.webcam.server import MjpegServer
from simulators.webcam.writer import write_video


def scenario(
    minutes: float,
    fps: float,
    width: int,
    height: int,
    wind: Wind,
    seed: int,
    habitat: str,
    rain: bool,
    night_at: float,
) -> SceneConfig:
    """The default scenario: rain over the second quarter, IR night from `night_at` of the way."""
    seconds = minutes * 60
    return SceneConfig(
        seconds=seconds,
        fps=fps,
        width=width,
        height=height,
        wind=wind,
        seed=seed,
        habitat="wetland" if habitat == "wetland" else "forest",
        rain=(seconds * 0.25, seconds * 0.45) if rain else None,
        night_at_s=seconds * night_at if 0 <= night_at < 1 else None,
    )


def webcam(
    out: Annotated[Path | None, typer.Option(help="Video file to write (MP4, H.264).")] = None,
    truth: Annotated[Path | None, typer.Option(help="Ground-truth JSON to write.")] = None,
    minutes: Annotated[float, typer.Option(min=0.1, max=24 * 60)] = 2.0,
    fps: Annotated[float, typer.Option(min=1, max=30)] = 5.0,
    width: Annotated[int, typer.Option(min=64, max=3840)] = 1280,
    height: Annotated[int, typer.Option(min=48, max=2160)] = 720,
    wind: Annotated[Wind, typer.Option(help="calm, breeze or strong")] = "breeze",
    seed: Annotated[int, typer.Option()] = 1,
    habitat: Annotated[str, typer.Option(help="forest or wetland")] = "forest",
    rain: Annotated[bool, typer.Option(help="A rain episode over the second quarter.")] = True,
    night_at: Annotated[
        float, typer.Option(help="Fraction of the clip where IR night starts; >= 1 for none.")
    ] = 0.6,
    serve: Annotated[bool, typer.Option(help="Serve a live MJPEG stream, looping.")] = False,
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8554,
) -> None:
    """Render a synthetic wildlife webcam with ground truth, to a file or as a live stream."""
    if habitat not in ("forest", "wetland"):
        raise typer.BadParameter("habitat : forest ou wetland", param_hint="--habitat")
    cfg = scenario(minutes, fps, width, height, wind, seed, habitat, rain, night_at)
    scene = Scene(cfg)
    if serve:
        server = MjpegServer(scene, port=port).start()
        typer.echo(f"Flux MJPEG : {server.url} (image seule : /snapshot.jpg) ; Ctrl-C pour arrêter")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.stop()
        return
    if out is None:
        raise typer.BadParameter("--out est requis sans --serve", param_hint="--out")
    n = write_video(scene, out, truth)
    typer.echo(f"{n} images écrites dans {out}" + (f", vérité terrain dans {truth}" if truth else ""))
