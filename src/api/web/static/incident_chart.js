// incident_chart.js — the rain behind an alert, on the incident pages (duty and public): reads
// the data the server embedded in <script type="application/json" id="pluie-donnees">
// ({step, step_s, t: [unix s], series: [{label, mm: [..]}], crossing: [from, to]}) and draws
// one chart per series with static/rain_chart.js (the one uPlot wrapper) into the element
// marked data-rain-chart. Without scripts the page already says the figures in words and in a
// table, so nothing here is needed to read it.
(function () {
  "use strict";

  function start() {
    var box = document.querySelector("[data-rain-chart]");
    if (!box || !window.VigieRainChart) { return; }
    var source = document.getElementById(box.getAttribute("data-rain-chart"));
    var data;
    try { data = JSON.parse(source ? source.textContent : ""); } catch (e) { return; }
    var tz = box.getAttribute("data-timezone") || "Europe/Paris";
    data.series.forEach(function (line) {
      var figure = document.createElement("figure");
      figure.className = "rain-chart__one";
      var caption = document.createElement("figcaption");
      caption.textContent = line.label;
      var canvas = document.createElement("div");
      figure.appendChild(caption);
      figure.appendChild(canvas);
      box.appendChild(figure);
      var chart = window.VigieRainChart.mount(canvas, { height: 220, timezone: tz, label: "Pluie — " + line.label });
      chart.setSeries({
        step: data.step,
        buckets: data.t.map(function (t, i) { return { start: t, depth_mm: line.mm[i] }; })
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
