// The station page (/stations/{id}): its rain chart (static/rain_chart.js) loaded from the
// series API, then fed live by the SSE stream of this station (/api/v1/live?station=…): each
// reading is added to the chart and written in "Dernier relevé", and the battery, signal, last
// message and status facts follow the readings and the status changes, without a reload.
// A range that ended in the past (custom dates) is not fed: its chart stays as read.
(function () {
  "use strict";
  var el = document.getElementById("graphique");
  if (!el) { return; }
  var tz = el.getAttribute("data-timezone") || "Europe/Paris";
  var live = el.getAttribute("data-live") === "true";
  var latest = document.querySelector("[data-latest-text]");
  var total = document.querySelector("[data-total-text]");
  var fmtTime = new Intl.DateTimeFormat("fr-FR", {
    timeZone: tz, day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit"
  });

  function num(v, d) { return v.toFixed(d).replace(".", ","); }
  function fact(name) { return document.querySelector('[data-fact="' + name + '"]'); }

  // Choosing a date means a custom range.
  ["champ-du", "champ-au"].forEach(function (id) {
    var input = document.getElementById(id);
    var perso = document.querySelector('input[name="periode"][value="perso"]');
    if (input && perso) { input.addEventListener("change", function () { perso.checked = true; }); }
  });

  if (typeof uPlot === "undefined" || !window.VigieRainChart) { return; }
  var chart = VigieRainChart.mount(el, {
    timezone: tz,
    label: el.getAttribute("data-label") || "Pluie",
    onData: function (s) {
      if (total) { total.textContent = s.total_mm === null ? "—" : num(s.total_mm, 1); }
    }
  });
  chart.load(el.getAttribute("data-series-url")).catch(function (err) {
    el.textContent = "Le graphique n'a pas pu être chargé : " + err.message + ". Le fichier CSV donne les relevés.";
  });

  if (!window.EventSource) { return; }
  var source = new EventSource(el.getAttribute("data-live-url"));
  // The stream starts "from now" when it first connects: a reading stored between the chart's
  // load and that moment comes in no event, so the chart is loaded once more then. (A reconnect
  // sends Last-Event-ID and resumes where it was: no second load.)
  var opened = false;
  source.addEventListener("open", function () {
    el.setAttribute("data-stream", "open");
    if (!opened && live) { opened = true; chart.load(el.getAttribute("data-series-url")).catch(function () {}); }
  });
  source.addEventListener("error", function () { el.setAttribute("data-stream", "reconnecting"); });
  source.addEventListener("reading", function (e) {
    var r;
    try { r = JSON.parse(e.data); } catch (_) { return; }
    var mm = r.mm === null || r.mm === undefined ? null : Number(r.mm);
    if (live && mm !== null) { chart.appendReading(r.ts, mm); }
    if (latest) {
      latest.textContent = (mm === null ? "sans pluie mesurée" : num(mm, 1) + " mm") + " à " +
        fmtTime.format(new Date(r.ts));
    }
    var seen = fact("last-seen");
    if (seen && r.received_at) { seen.textContent = fmtTime.format(new Date(r.received_at)); }
    var battery = fact("battery");
    if (battery && r.battery_v !== null && r.battery_v !== undefined) { battery.textContent = num(Number(r.battery_v), 2) + " V"; }
    var rssi = fact("rssi");
    if (rssi && r.rssi !== null && r.rssi !== undefined) { rssi.textContent = r.rssi + " dBm"; }
  });
  // A status change: the page asks the health route for the one word (late and low battery
  // are the server's to decide, not the event's online flag).
  var words = JSON.parse(el.getAttribute("data-status-words") || "{}");
  var badges = JSON.parse(el.getAttribute("data-status-badges") || "{}");
  source.addEventListener("status", function () {
    fetch(el.getAttribute("data-health-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (h) {
        var status = fact("status");
        if (!status) { return; }
        status.textContent = "";
        var badge = document.createElement("span");
        badge.className = "badge badge--" + (badges[h.status] || "neutral");
        badge.textContent = words[h.status] || h.status;
        status.appendChild(badge);
        el.setAttribute("data-status", h.status);
      })
      .catch(function () {});
  });
})();
