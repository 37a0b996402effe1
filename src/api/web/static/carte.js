// The technicians' map (/carte): every active gauge as a marker on the communes' outlines
// (static/territory_map.js), filled by its 24 h rain, with a centre dot for its last hour and an
// outline for its status; a gauge that is not online keeps its status written beside it, and
// the table says everything in text, so colour is never the only signal.
//
// Live: the SSE stream /api/v1/live says when a reading, a status or an incident changed; the
// page then re-reads /carte/etat.json (at most every 2 s), which computes status and rain on
// the server the same way as the first render. A 60 s refresh catches gauges going late by
// silence alone (no event says so). The table's headers sort it, by mouse or keyboard.
(function () {
  "use strict";
  var el = document.getElementById("carte");
  var table = document.getElementById("tableau-stations");
  var note = document.querySelector("#carte-maj");
  if (!el) { return; }
  var STATE_URL = el.getAttribute("data-state-url");
  var LIVE_URL = el.getAttribute("data-live-url");
  var BADGE = { online: "ok", late: "neutral", offline: "off", low_battery: "neutral" };
  var markers = {};
  var mapReady = null;

  function text(tag, cls, value) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (value !== undefined) { n.textContent = value; }
    return n;
  }

  function label(s) {
    return s.name + " (" + s.commune + ") : " + s.status_word + " ; pluie 1 h : " + s.rain_1h_text +
      " mm ; 24 h : " + s.rain_24h_text + " mm";
  }

  function iconFor(s) {
    return L.divIcon({
      className: "gauge-marker gauge-marker--" + s.status + " rain24-" + s.rain_24h_class,
      html: '<span class="gauge-marker__core rain1-' + s.rain_1h_class + '"></span>',
      iconSize: [26, 26],
      iconAnchor: [13, 13],
      popupAnchor: [0, -12],
      tooltipAnchor: [14, 0]
    });
  }

  function popup(s) {
    var box = text("div", "gauge-popup");
    box.appendChild(text("strong", null, s.name));
    box.appendChild(text("div", null, s.commune + " — " + s.status_word));
    box.appendChild(text("div", null, "Pluie 1 h : " + s.rain_1h_text + " mm ; 24 h : " + s.rain_24h_text + " mm"));
    box.appendChild(text("div", null, "Dernier message : " + s.last_seen_text));
    var a = text("a", null, "Ouvrir la station");
    a.href = s.href;
    box.appendChild(a);
    return box;
  }

  function placeMarker(map, s) {
    var m = markers[s.id];
    if (!m) {
      m = L.marker([s.lat, s.lon], { icon: iconFor(s), title: label(s), keyboard: true, riseOnHover: true });
      m.addTo(map);
      markers[s.id] = m;
    } else {
      m.setIcon(iconFor(s));
      m.setLatLng([s.lat, s.lon]);
    }
    m.bindPopup(popup(s));
    // Not online: the status word stays written beside the marker (short, so that labels of
    // neighbouring gauges do not cover each other); the name is in the hover label and popup.
    m.unbindTooltip();
    // A node, not a string: Leaflet puts a string in as HTML, and a name is typed by a person.
    m.bindTooltip(text("span", null, s.status !== "online" ? s.status_word : s.name + " : " + s.status_word), {
      permanent: s.status !== "online", direction: "right",
      className: "gauge-label" + (s.status !== "online" ? " gauge-label--alert" : "")
    });
    var node = m.getElement();
    if (node) {
      node.setAttribute("data-station", s.id);
      node.setAttribute("data-status", s.status);
      node.setAttribute("title", label(s));
      node.setAttribute("aria-label", label(s));
    }
  }

  function drawMarkers(state) {
    if (!mapReady) { return; }
    mapReady.then(function (m) {
      var seen = {};
      state.stations.forEach(function (s) { seen[s.id] = true; placeMarker(m.map, s); });
      Object.keys(markers).forEach(function (id) {
        if (!seen[id]) { markers[id].remove(); delete markers[id]; }
      });
      el.setAttribute("data-markers", String(state.stations.length));
    });
  }

  function swatchCell(td, cls, value, sortValue) {
    td.textContent = "";
    td.appendChild(text("span", "rain-swatch " + cls));
    td.appendChild(document.createTextNode(" " + value));
    td.setAttribute("data-value", String(sortValue));
  }

  function updateTable(state) {
    if (!table) { return; }
    var body = table.tBodies[0];
    state.stations.forEach(function (s) {
      var row = body.querySelector('tr[data-station="' + CSS.escape(s.id) + '"]');
      if (!row) { return; } // a new gauge appears on the next page load
      row.setAttribute("data-status", s.status);
      var status = row.querySelector('[data-cell="status"]');
      status.textContent = "";
      status.appendChild(text("span", "badge badge--" + (BADGE[s.status] || "neutral"), s.status_word));
      status.setAttribute("data-value", s.status_word);
      swatchCell(row.querySelector('[data-cell="rain1h"]'), "rain1-" + s.rain_1h_class, s.rain_1h_text,
        s.rain_1h_mm === null ? -1 : s.rain_1h_mm);
      swatchCell(row.querySelector('[data-cell="rain24h"]'), "rain24-" + s.rain_24h_class, s.rain_24h_text,
        s.rain_24h_mm === null ? -1 : s.rain_24h_mm);
      var seen = row.querySelector('[data-cell="seen"]');
      seen.textContent = s.last_seen_text;
      seen.setAttribute("data-value", s.last_seen ? String(Date.parse(s.last_seen) / 1000) : "0");
    });
    resort();
  }

  var when = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  function apply(state) {
    drawMarkers(state);
    updateTable(state);
    if (note) { note.textContent = "Données de " + when.format(new Date(state.at)) + ", mises à jour en direct."; }
  }

  // Re-reading the state: one at a time, at most every 2 s however many events arrive.
  var busy = false, again = false, lastRead = 0, timer = null;
  function refresh() {
    if (busy) { again = true; return; }
    var wait = Math.max(0, lastRead + 2000 - Date.now());
    if (wait > 0) { if (!timer) { timer = setTimeout(function () { timer = null; refresh(); }, wait); } return; }
    busy = true;
    lastRead = Date.now();
    VigieTerritoryMap.getJson(STATE_URL).then(apply).catch(function () {
      if (note) { note.textContent = "Mise à jour impossible pour l'instant ; nouvel essai dans un moment."; }
    }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  // --- the sortable table ---------------------------------------------------------------
  var sortCol = 1, sortDir = "ascending";
  function cellValue(row, col, kind) {
    var v = row.cells[col].getAttribute("data-value") || "";
    return kind === "number" ? parseFloat(v) || 0 : v;
  }
  function resort() {
    if (!table) { return; }
    var head = table.tHead.rows[0].cells[sortCol];
    var kind = head.getAttribute("data-sort");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var collator = new Intl.Collator("fr", { sensitivity: "base", numeric: true });
    rows.sort(function (a, b) {
      var x = cellValue(a, sortCol, kind), y = cellValue(b, sortCol, kind);
      var c = kind === "number" ? x - y : collator.compare(x, y);
      return sortDir === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  if (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      var button = th.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () {
        sortDir = sortCol === i && sortDir === "ascending" ? "descending" : "ascending";
        sortCol = i;
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
          other.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", sortDir);
        resort();
      });
    });
  }

  // --- start ------------------------------------------------------------------------------
  if (typeof L !== "undefined" && window.VigieTerritoryMap) {
    mapReady = VigieTerritoryMap.create(el, {
      interactive: false,
      style: function () { return { color: "#1b1f24", weight: 1.2, fillColor: "#ffffff", fillOpacity: 0.5 }; }
    });
    mapReady.catch(function () {
      el.textContent = "La carte n'a pas pu être chargée ; le tableau donne les mêmes informations.";
    });
    VigieTerritoryMap.getJson(STATE_URL).then(drawMarkers).catch(function () {});
  }
  if (window.EventSource && LIVE_URL) {
    var source = new EventSource(LIVE_URL);
    ["reading", "status", "incident"].forEach(function (kind) {
      source.addEventListener(kind, function () {
        el.setAttribute("data-last-event", kind);
        refresh();
      });
    });
    // The stream starts "from now" when it connects: what was stored between the page's own read
    // and that moment comes in no event, so the state is read once more when the stream opens.
    source.addEventListener("open", function () { el.setAttribute("data-live", "open"); refresh(); });
    source.addEventListener("error", function () { el.setAttribute("data-live", "reconnecting"); });
  }
  setInterval(refresh, 60000);
})();
