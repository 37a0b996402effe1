// The review viewer (/revue/evenements/{id}): the motion boxes drawn over the clip in step with
// video.currentTime, frame steps and speed, the keyboard shortcuts (shown by "?") and the
// species picker (searched as one types through /api/v1/species). Every action is a form or a
// link of the page: a shortcut only presses it, so the page works without this script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const video = document.getElementById("clip");
  if (video) player(video);
  shortcuts();
  picker();
});

function player(video) {
  const canvas = document.querySelector("[data-boxes-canvas]");
  const controls = document.querySelector("[data-controls]");
  const timeText = document.querySelector("[data-time]");
  const showBoxes = document.querySelector("[data-show-boxes]");
  const boxes = JSON.parse(video.dataset.boxes || "[]");
  const bboxes = JSON.parse(video.dataset.bboxes || "[]");
  // The distinct instants that have boxes, and how long one stays shown: half the usual gap
  // between two of them (the worker's boxes come per analysed frame), at least 0.1 s.
  const times = [...new Set(boxes.map((b) => b.t))].sort((a, b) => a - b);
  const gaps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
  const hold = Math.max(0.1, gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0.5);
  let frame = 0.2; // seconds per frame until the browser tells us (requestVideoFrameCallback)
  let lastMedia = null;
  controls.hidden = false;

  function nearest(now) {
    let best = null;
    for (const t of times) {
      if (t <= now + 1e-3) best = t;
      else break;
    }
    return best !== null && now - best <= hold ? best : null;
  }

  // The picture's rectangle inside the element (the video keeps its aspect ratio).
  function pictureRect() {
    const w = video.clientWidth, h = video.clientHeight;
    const vw = video.videoWidth || w, vh = video.videoHeight || h;
    const scale = Math.min(w / vw, h / vh);
    return { x: (w - vw * scale) / 2, y: (h - vh * scale) / 2, w: vw * scale, h: vh * scale };
  }

  function draw() {
    const now = video.currentTime;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(video.clientWidth * ratio);
    canvas.height = Math.round(video.clientHeight * ratio);
    canvas.style.width = `${video.clientWidth}px`;
    canvas.style.height = `${video.clientHeight}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const r = pictureRect();
    const t = nearest(now);
    const shown = t === null || !showBoxes.checked ? [] : boxes.filter((b) => b.t === t);
    ctx.lineWidth = 3;
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#ff9e1b";
    for (const b of shown) ctx.strokeRect(r.x + b.x * r.w, r.y + b.y * r.h, b.w * r.w, b.h * r.h);
    ctx.setLineDash([]);
    ctx.strokeStyle = "#3ddc84";
    ctx.fillStyle = "#3ddc84";
    ctx.font = "bold 14px system-ui, sans-serif";
    const labelled = bboxes.filter((b) => (b.from === null || now >= b.from) && (b.to === null || now <= b.to));
    for (const b of labelled) {
      ctx.strokeRect(r.x + b.x * r.w, r.y + b.y * r.h, b.w * r.w, b.h * r.h);
      ctx.fillText(b.label, r.x + b.x * r.w + 4, r.y + b.y * r.h + 16);
    }
    // What is drawn, for people reading the page's state and for the tests.
    canvas.dataset.boxT = t === null ? "" : String(t);
    canvas.dataset.boxCount = String(shown.length);
    canvas.dataset.currentTime = now.toFixed(3);
    timeText.textContent = `${now.toFixed(2).replace(".", ",")} s / ${(video.duration || 0).toFixed(2).replace(".", ",")} s`;
  }

  if ("requestVideoFrameCallback" in video) {
    const onFrame = (_now, meta) => {
      if (lastMedia !== null && meta.mediaTime > lastMedia && meta.mediaTime - lastMedia < 1) {
        frame = Math.min(frame, meta.mediaTime - lastMedia);
      }
      lastMedia = meta.mediaTime;
      draw();
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  ["timeupdate", "seeked", "loadedmetadata", "pause", "play"].forEach((e) => video.addEventListener(e, draw));
  // A species' reference picture is the frame on screen: the form sends the video's time.
  document.querySelectorAll("[data-reference-form]").forEach((form) => form.addEventListener("submit", () => {
    form.querySelector("[data-reference-time]").value = video.currentTime.toFixed(3);
  }));
  window.addEventListener("resize", draw);
  showBoxes.addEventListener("change", draw);

  const step = (n) => {
    video.pause();
    video.currentTime = Math.min(video.duration || Infinity, Math.max(0, video.currentTime + n * frame));
  };
  document.querySelectorAll("[data-step]").forEach((b) => b.addEventListener("click", () => step(Number(b.dataset.step))));
  const speed = document.querySelector("[data-speed]");
  speed.addEventListener("change", () => { video.playbackRate = Number(speed.value); });
  player.step = step;
  draw();
}

function press(selector) {
  const el = document.querySelector(selector);
  if (!el) return false;
  el.click();
  return true;
}

function shortcuts() {
  const dialog = document.getElementById("raccourcis");
  const open = document.querySelector("[data-shortcuts-open]");
  if (open && dialog && dialog.showModal) {
    open.hidden = false;
    open.addEventListener("click", () => dialog.showModal());
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target.closest && target.closest("input, textarea, select, [contenteditable], dialog[open]");
    if (typing) return;
    const onVideo = target.tagName === "VIDEO";
    const key = event.key;
    let done = false;
    if (key === "?") { if (dialog && dialog.showModal) { dialog.showModal(); done = true; } }
    else if (key === "j" || (key === "ArrowRight" && !onVideo)) done = press("[data-key-next]");
    else if (key === "k" || (key === "ArrowLeft" && !onVideo)) done = press("[data-key-prev]");
    else if ((key === "," || key === ".") && player.step) { player.step(key === "," ? -1 : 1); done = true; }
    else if (key === "f" || key === "F") done = press("[data-key-f]");
    else if (key === "s" || key === "S") done = press("[data-key-s]");
    else if (key === "p" || key === "P") done = press("[data-key-p]");
    else if (key === "/") { const i = document.querySelector("[data-species-input]"); if (i) { i.focus(); done = true; } }
    else if (key === "Enter" && (target === document.body || target.tagName === "MAIN" || onVideo)) {
      done = press("[data-key-validate]") || press("[data-key-seen]");
    } else if (/^[1-9]$/.test(key)) done = press(`[data-quick="${key}"]`);
    if (done) event.preventDefault();
  });
}

// The species combobox: French or scientific names, accents and case ignored by the server's
// search (the same function as GET /api/v1/species).
function picker() {
  const input = document.querySelector("[data-species-input]");
  if (!input) return;
  const list = document.getElementById(input.getAttribute("aria-controls"));
  let options = [];
  let active = -1;
  let timer = null;
  let asked = 0;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }
  function mark(i) {
    active = i;
    options.forEach((o, j) => o.setAttribute("aria-selected", j === i ? "true" : "false"));
    if (i >= 0) {
      input.setAttribute("aria-activedescendant", options[i].id);
      options[i].scrollIntoView({ block: "nearest" });
    }
  }
  function choose(i) {
    input.value = options[i].dataset.name;
    close();
  }
  async function search() {
    const q = input.value.trim();
    const ticket = ++asked;
    if (!q) { close(); return; }
    const response = await fetch(`/api/v1/species?limit=10&q=${encodeURIComponent(q)}`, { credentials: "same-origin" });
    if (!response.ok || ticket !== asked) return;
    const taxa = await response.json();
    list.replaceChildren();
    options = taxa.map((t, i) => {
      const li = document.createElement("li");
      li.id = `espece-opt-${i}`;
      li.setAttribute("role", "option");
      li.dataset.name = t.scientific_name;
      const fr = document.createElement("span");
      fr.textContent = t.vernacular_name;
      const sci = document.createElement("i");
      sci.textContent = ` ${t.scientific_name}`;
      li.append(fr, sci);
      li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(i); });
      list.append(li);
      return li;
    });
    if (!options.length) {
      const li = document.createElement("li");
      li.className = "review-picker__none";
      li.textContent = "Aucune espèce de la liste : le nom sera gardé comme nom libre.";
      list.append(li);
    }
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    mark(options.length ? 0 : -1);
  }
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 120);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" && options.length) { event.preventDefault(); mark((active + 1) % options.length); }
    else if (event.key === "ArrowUp" && options.length) { event.preventDefault(); mark((active - 1 + options.length) % options.length); }
    else if (event.key === "Enter" && active >= 0) { event.preventDefault(); choose(active); }
    else if (event.key === "Escape") { event.preventDefault(); close(); }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}
