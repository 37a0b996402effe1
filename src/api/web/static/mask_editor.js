// The mask editor of /admin/cameras/{id}: polygons drawn over the camera's current view, with
// the pointer (a click adds a point) or the keyboard (arrows move a crosshair, Space adds a
// point), Enter closing a polygon, Escape dropping it, Backspace removing its last point. The
// polygons, normalised 0..1 from the top-left corner, are kept in the form's JSON text area,
// which is what the form sends: without this script, that text area is the editor.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("[data-mask-form]");
  if (form) maskEditor(form);
});

function maskEditor(form) {
  const svg = form.querySelector("[data-mask-canvas]");
  const json = form.querySelector("[data-mask-json]");
  const list = form.querySelector("[data-mask-list]");
  const none = form.querySelector("[data-mask-none]");
  const status = form.querySelector("[data-mask-status]");
  const cancel = form.querySelector("[data-mask-cancel]");
  const NS = "http://www.w3.org/2000/svg";
  const SCALE = 1000; // the overlay's viewBox: 0..1000 on both axes, stretched over the picture
  let polygons = read();
  let current = [];
  let cursor = [0.5, 0.5];

  function read() {
    try {
      const data = JSON.parse(json.value || "[]");
      if (!Array.isArray(data)) return [];
      return data
        .filter((m) => m && Array.isArray(m.points))
        .map((m) => m.points.map((p) => [Number(p[0]), Number(p[1])]));
    } catch (e) {
      return []; // the text as typed stays in the text area, and the server says what is wrong
    }
  }

  const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
  const say = (text) => { status.textContent = text; };

  function write() {
    json.value = JSON.stringify(polygons.map((points) => ({ points })));
  }

  function node(name, attrs) {
    const el = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    return el;
  }

  const pointsAttr = (points) => points.map(([x, y]) => `${x * SCALE},${y * SCALE}`).join(" ");

  function draw() {
    svg.replaceChildren();
    polygons.forEach((points, i) => {
      svg.append(node("polygon", { class: "mask-shape", points: pointsAttr(points) }));
      const [cx, cy] = centre(points);
      const label = node("text", { class: "mask-label", x: cx * SCALE, y: cy * SCALE });
      label.textContent = String(i + 1);
      svg.append(label);
    });
    if (current.length) {
      svg.append(node("polyline", { class: "mask-drawing", points: pointsAttr(current) }));
      for (const [x, y] of current) svg.append(node("circle", { class: "mask-point", cx: x * SCALE, cy: y * SCALE, r: 6 }));
    }
    if (document.activeElement === svg) {
      const [x, y] = cursor;
      svg.append(node("line", { class: "mask-cursor", x1: x * SCALE - 25, x2: x * SCALE + 25, y1: y * SCALE, y2: y * SCALE }));
      svg.append(node("line", { class: "mask-cursor", x1: x * SCALE, x2: x * SCALE, y1: y * SCALE - 25, y2: y * SCALE + 25 }));
    }
    cancel.hidden = current.length === 0;
  }

  // The list is rebuilt only when the polygons change: rebuilt on the canvas's blur, it would
  // take away the delete button being clicked (the blur comes first).
  function changed() {
    write();
    draw();
    listPolygons();
  }

  function centre(points) {
    const n = points.length || 1;
    return [points.reduce((s, p) => s + p[0], 0) / n, points.reduce((s, p) => s + p[1], 0) / n];
  }

  function listPolygons() {
    list.replaceChildren();
    polygons.forEach((points, i) => {
      const item = document.createElement("li");
      item.textContent = `Masque ${i + 1} : ${points.length} points `;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button button--quiet";
      remove.textContent = `Supprimer le masque ${i + 1}`;
      remove.addEventListener("click", () => {
        polygons.splice(i, 1);
        changed();
        say(`Masque ${i + 1} supprimé. Enregistrez pour l'appliquer.`);
        (list.querySelector("button") || svg).focus();
      });
      item.append(remove);
      list.append(item);
    });
    none.hidden = polygons.length > 0;
  }

  function add([x, y]) {
    current.push([round(x), round(y)]);
    say(`Point ${current.length} ajouté (${current.length >= 3 ? "Entrée ferme le polygone" : "il en faut au moins 3"}).`);
    draw();
  }

  function close() {
    if (current.length < 3) {
      say("Un masque a besoin d'au moins 3 points.");
      return;
    }
    polygons.push(current);
    current = [];
    changed();
    say(`Masque ${polygons.length} fermé. Enregistrez pour l'appliquer.`);
  }

  function drop() {
    current = [];
    draw();
    say("Polygone en cours abandonné.");
  }

  svg.removeAttribute("hidden"); // an SVG element has no .hidden property
  json.closest(".field").hidden = true; // the drawing replaces the text; the form still sends it
  svg.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    const box = svg.getBoundingClientRect();
    cursor = [(e.clientX - box.left) / box.width, (e.clientY - box.top) / box.height];
    svg.focus();
    add(cursor);
  });
  svg.addEventListener("focus", draw);
  svg.addEventListener("blur", draw);
  svg.addEventListener("keydown", (e) => {
    const step = e.shiftKey ? 0.05 : 0.01;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) {
      cursor = [round(cursor[0] + moves[e.key][0]), round(cursor[1] + moves[e.key][1])];
      draw();
    } else if (e.key === " ") {
      add(cursor);
    } else if (e.key === "Enter") {
      close();
    } else if (e.key === "Escape") {
      drop();
    } else if (e.key === "Backspace") {
      current.pop();
      draw();
      say(current.length ? `Dernier point retiré (${current.length} restent).` : "Plus aucun point.");
    } else {
      return;
    }
    e.preventDefault();
  });
  cancel.addEventListener("click", () => { drop(); svg.focus(); });
  listPolygons();
  form.addEventListener("submit", (e) => {
    if (current.length >= 3) close(); // a polygon drawn but not closed is what the person meant
    else if (current.length) {
      e.preventDefault();
      say("Le polygone en cours a moins de 3 points : complétez-le ou abandonnez-le.");
    }
  });
  draw();
}
