// rain_chart.js — Vigie's one rain chart: a small wrapper around uPlot (static/vendor/uplot).
//
// Used by the station page (/stations/{id}) and meant for any other page that charts one
// station's rain (the incident pages). Load vendor/uplot/uPlot.iife.min.js and uPlot.min.css
// first, then this file; it defines one global, `VigieRainChart`. No inline code is needed: a
// page's own script calls it.
//
// API (kept stable; add, never change):
//
//   var chart = VigieRainChart.mount(element, options)
//     element   an empty block element; the chart fills its width (and follows resizes).
//     options   {
//       url:      a series JSON URL (optional): GET /api/v1/stations/{id}/series?from=&to=&step=
//                 (RainSeriesDetail: {step, from, to, buckets: [{start, depth_mm,
//                 cumulative_mm, intensity_mm_h}]}); loaded at once when given,
//       height:   pixels (default 280),
//       timezone: IANA zone of the axis and legend times (default "Europe/Paris"; pass the
//                 page's configured zone),
//       label:    accessible name of the chart (default "Pluie"),
//       onData:   function (summary) called after each load and each live point, where
//                 summary = {points, total_mm, last: {ts, mm} | null} (ts: unix seconds)
//     }
//   chart.load(url)            -> Promise: fetch a series JSON and replace the data; rejects
//                                 with an Error whose message is French on HTTP errors.
//   chart.setSeries(json)      replace the data with an already fetched RainSeriesDetail.
//   chart.appendReading(ts, mm) add a live reading (ts: Date, ISO string or unix seconds;
//                                 mm: number) to the bucket that holds it — the bucket holding
//                                 ts minus 1 µs, as the rollups count it — creating empty
//                                 buckets up to it if needed; depth, cumulative total and
//                                 intensity (mm/h) are recomputed. A reading older than the
//                                 first bucket is ignored (returns false), else true.
//   chart.summary()            -> {points, total_mm, last}, as given to onData.
//   chart.data()               -> {start: [unix s], depth_mm: [], cumulative_mm: [],
//                                 intensity_mm_h: []} (copies; null where no reading).
//   chart.destroy()            remove the chart and its resize listener.
//
// The element also carries data-points (bucket count) and data-total-mm after each update,
// and `element.rainChart` is the chart, for tests and for other scripts.
//
// Drawn: depth per bucket as bars (left axis, mm), cumulative rain as a line (right axis,
// mm) and intensity as a dashed line (its own right axis, mm/h, hidden under 560 px wide).
// Labels are French, numbers with a decimal comma; the legend's time is in `timezone`.
(function () {
  "use strict";

  var FR = {
    MMMM: ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
      "octobre", "novembre", "décembre"],
    MMM: ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
      "nov.", "déc."],
    WWWW: ["dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"],
    WWW: ["dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."]
  };

  // uPlot's axis templates, in French and 24 h: [tick step (s), label, label at a new year,
  // _, at a new day, _, at a new minute, _, mode] (uPlot's "config array").
  var X_VALUES = [
    [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [3600 * 24 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600 * 24, "{D} {MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1],
    [1, "{HH}:{mm}:{ss}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1]
  ];

  function num(v, digits) {
    if (v === null || v === undefined || isNaN(v)) { return "—"; }
    return v.toFixed(digits).replace(".", ",");
  }

  function toSeconds(ts) {
    if (typeof ts === "number") { return ts; }
    if (ts instanceof Date) { return ts.getTime() / 1000; }
    return Date.parse(ts) / 1000;
  }

  function French(tz) {
    var when = new Intl.DateTimeFormat("fr-FR", {
      timeZone: tz, day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit"
    });
    return function (s) { return when.format(new Date(s * 1000)); };
  }

  function mount(element, options) {
    if (typeof uPlot === "undefined") { throw new Error("uPlot n'est pas chargé"); }
    options = options || {};
    var tz = options.timezone || "Europe/Paris";
    var height = options.height || 280;
    var fmtWhen = French(tz);
    // The chart's own state: one entry per bucket; depth null where no reading covered it.
    var starts = [], depth = [], stepS = 3600;
    var last = null;
    var plot = null;

    function columns() {
      var cum = [], inten = [], total = null;
      for (var i = 0; i < depth.length; i++) {
        if (depth[i] !== null) { total = (total || 0) + depth[i]; }
        cum.push(total);
        inten.push(depth[i] === null ? null : depth[i] * 3600 / stepS);
      }
      return { cum: cum, inten: inten, total: total };
    }

    function summary() {
      var c = columns();
      return { points: starts.length, total_mm: c.total, last: last };
    }

    function wide() { return (element.clientWidth || 600) >= 560; }

    function build() {
      var w = Math.max(element.clientWidth || 600, 240);
      var opts = {
        width: w,
        height: height,
        tzDate: function (s) { return uPlot.tzDate(new Date(s * 1000), tz); },
        fmtDate: function (tpl) { return uPlot.fmtDate(tpl, FR); },
        cursor: { focus: { prox: 16 } },
        legend: { live: true },
        scales: { x: { time: true }, mm: { range: function (u, lo, hi) { return [0, Math.max(hi || 0, 1)]; } },
          cum: { range: function (u, lo, hi) { return [0, Math.max(hi || 0, 1)]; } },
          mmh: { range: function (u, lo, hi) { return [0, Math.max(hi || 0, 1)]; } } },
        series: [
          { label: "Heure", value: function (u, s) { return s === null || s === undefined ? "—" : fmtWhen(s); } },
          {
            label: "Pluie par pas (mm)", scale: "mm", stroke: "#1f5fa8", fill: "rgba(31, 95, 168, 0.55)",
            paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false },
            value: function (u, v) { return num(v, 1) + " mm"; }
          },
          {
            label: "Cumul (mm)", scale: "cum", stroke: "#7a3b00", width: 2, points: { show: false },
            value: function (u, v) { return num(v, 1) + " mm"; }
          },
          {
            label: "Intensité (mm/h)", scale: "mmh", stroke: "#2d6a2e", width: 1.5, dash: [6, 4],
            points: { show: false }, value: function (u, v) { return num(v, 1) + " mm/h"; }
          }
        ],
        axes: [
          { values: X_VALUES, stroke: "#1b1f24", grid: { stroke: "#e3e6ea" } },
          { scale: "mm", label: "mm par pas", stroke: "#1b1f24", grid: { stroke: "#e3e6ea" },
            values: function (u, vals) { return vals.map(function (v) { return num(v, v < 10 ? 1 : 0); }); } },
          { scale: "cum", side: 1, label: "cumul (mm)", stroke: "#7a3b00", grid: { show: false },
            values: function (u, vals) { return vals.map(function (v) { return num(v, v < 10 ? 1 : 0); }); } },
          { scale: "mmh", side: 1, label: "mm/h", stroke: "#2d6a2e", grid: { show: false }, show: wide(),
            values: function (u, vals) { return vals.map(function (v) { return num(v, v < 10 ? 1 : 0); }); } }
        ]
      };
      element.textContent = "";
      plot = new uPlot(opts, aligned(), element);
    }

    function aligned() {
      var c = columns();
      return [starts.slice(), depth.slice(), c.cum, c.inten];
    }

    function update() {
      if (!plot) { build(); } else { plot.setData(aligned()); }
      var s = summary();
      element.setAttribute("data-points", String(s.points));
      element.setAttribute("data-total-mm", s.total_mm === null ? "" : String(Math.round(s.total_mm * 1000) / 1000));
      if (typeof options.onData === "function") { options.onData(s); }
    }

    function setSeries(json) {
      var b = json.buckets || [];
      starts = b.map(function (p) { return toSeconds(p.start); });
      depth = b.map(function (p) { return p.depth_mm === null || p.depth_mm === undefined ? null : p.depth_mm; });
      stepS = starts.length > 1 ? starts[1] - starts[0] : (STEP_S[json.step] || 3600);
      if (json.step && STEP_S[json.step]) { stepS = STEP_S[json.step]; }
      last = null;
      for (var i = depth.length - 1; i >= 0; i--) {
        if (depth[i] !== null) { last = { ts: starts[i] + stepS, mm: depth[i] }; break; }
      }
      update();
    }

    function load(url) {
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) {
            return r.json().catch(function () { return {}; }).then(function (body) {
              throw new Error(body.detail || ("la série n'a pas pu être chargée (" + r.status + ")"));
            });
          }
          return r.json();
        })
        .then(setSeries);
    }

    function appendReading(ts, mm) {
      var s = toSeconds(ts);
      if (isNaN(s) || typeof mm !== "number" || isNaN(mm) || !starts.length) { return false; }
      var at = s - 1e-6; // the bucket holding ts minus 1 µs, as the rollups count it
      if (at < starts[0]) { return false; }
      while (at >= starts[starts.length - 1] + stepS) {
        starts.push(starts[starts.length - 1] + stepS);
        depth.push(null);
      }
      var i = starts.length - 1;
      while (i > 0 && starts[i] > at) { i--; }
      depth[i] = (depth[i] || 0) + mm;
      if (!last || s >= last.ts) { last = { ts: s, mm: mm }; }
      update();
      return true;
    }

    function onResize() {
      if (!plot) { return; }
      var w = Math.max(element.clientWidth || 600, 240);
      if (plot.axes[3] && plot.axes[3].show !== wide()) { plot.destroy(); plot = null; build(); return; }
      plot.setSize({ width: w, height: height });
    }
    window.addEventListener("resize", onResize);

    var chart = {
      load: load,
      setSeries: setSeries,
      appendReading: appendReading,
      summary: summary,
      data: function () {
        var c = columns();
        return { start: starts.slice(), depth_mm: depth.slice(), cumulative_mm: c.cum, intensity_mm_h: c.inten };
      },
      destroy: function () {
        window.removeEventListener("resize", onResize);
        if (plot) { plot.destroy(); plot = null; }
      }
    };
    element.setAttribute("role", "figure");
    element.setAttribute("aria-label", options.label || "Pluie");
    element.rainChart = chart;
    if (options.url) { load(options.url); }
    return chart;
  }

  // Bucket widths of the series API's steps (api.queries.rain.SERIES_STEPS); 1d is 24 h here,
  // a local day of 23 or 25 h being drawn as the API gave it.
  var STEP_S = { "1min": 60, "5min": 300, "15min": 900, "30min": 1800, "1h": 3600, "3h": 10800,
    "6h": 21600, "1d": 86400 };

  window.VigieRainChart = { mount: mount, STEP_S: STEP_S };
})();
