// The review gallery (/revue): keyboard navigation between tiles and the selection for bulk
// actions. Without it the page still works (links, checkboxes, the form's submit button).
//   Arrow keys: move between tiles (up/down by a row of the grid); Enter: open (the link's own);
//   Space: tick/untick the focused tile; Shift+arrow: tick the tile moved to as well;
//   Shift+click on a checkbox: tick every tile between it and the last one clicked.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const grid = document.querySelector("[data-review-grid]");
  if (!grid) return;
  const tiles = Array.from(grid.querySelectorAll("[data-tile]"));
  const links = tiles.map((t) => t.querySelector("[data-tile-link]"));
  const boxes = tiles.map((t) => t.querySelector("[data-select]"));
  const counter = document.querySelector("[data-selected-count]");

  function updateCount() {
    if (!counter) return;
    const n = boxes.filter((b) => b && b.checked).length;
    counter.textContent = n === 0 ? "(cochez des vignettes)" : `(${n} choisi${n > 1 ? "s" : ""})`;
    tiles.forEach((t, i) => t.classList.toggle("review-tile--selected", Boolean(boxes[i] && boxes[i].checked)));
  }

  // Columns of the grid as laid out now (it changes with the screen's width).
  function columns() {
    if (tiles.length < 2) return 1;
    const top = tiles[0].offsetTop;
    const n = tiles.findIndex((t) => t.offsetTop !== top);
    return n === -1 ? tiles.length : n;
  }

  // Only one tile is in the Tab order at a time (a roving tabindex): Tab leaves the grid.
  function focusTile(i) {
    links.forEach((l, j) => l.setAttribute("tabindex", j === i ? "0" : "-1"));
    links[i].focus();
  }
  links.forEach((l, j) => l.setAttribute("tabindex", j === 0 ? "0" : "-1"));

  grid.addEventListener("keydown", (event) => {
    const i = links.indexOf(document.activeElement);
    if (i === -1) return;
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() }[event.key];
    if (step !== undefined) {
      event.preventDefault();
      const j = Math.min(tiles.length - 1, Math.max(0, i + step));
      if (event.shiftKey && boxes[j]) {
        if (boxes[i]) boxes[i].checked = true;
        boxes[j].checked = true;
        updateCount();
      }
      focusTile(j);
    } else if (event.key === " " && boxes[i]) {
      event.preventDefault();
      boxes[i].checked = !boxes[i].checked;
      updateCount();
    }
  });

  let last = null;
  boxes.forEach((box, i) => {
    if (!box) return;
    box.addEventListener("click", (event) => {
      if (event.shiftKey && last !== null) {
        const [a, b] = last < i ? [last, i] : [i, last];
        for (let k = a; k <= b; k += 1) if (boxes[k]) boxes[k].checked = box.checked;
      }
      last = i;
      updateCount();
    });
  });
  updateCount();
});
