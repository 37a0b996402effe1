// The territory's map, shared by the public vigilance page and the technicians' map: Leaflet
// with the 16 communes' outlines (GET /vigilance/contours.geojson) and NO tile layer, so that
// nothing is fetched from outside. Load vendor/leaflet/leaflet.js first. One global:
//
//   VigieTerritoryMap.getJson(url)       -> Promise of the JSON (same-origin, error on HTTP >= 400)
//   VigieTerritoryMap.create(el, opts)   -> Promise of {map, outlines} once the outlines are drawn
//     opts.style(feature)                the outline's Leaflet path style (default: grey lines)
//     opts.onEachFeature(feature, layer) as L.geoJSON's, e.g. to bind a label
//     opts.interactive                   whether the outlines take clicks and hovers (default true)
//   The element's text is cleared, and its data-ready attribute set to the number of outlines.
(function () {
  "use strict";

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(url + " : " + r.status); } return r.json(); });
  }

  function create(el, opts) {
    opts = opts || {};
    return getJson("/vigilance/contours.geojson").then(function (outlines) {
      el.textContent = "";
      var map = L.map(el, { attributionControl: false, zoomSnap: 0.25, scrollWheelZoom: false });
      var layer = L.geoJSON(outlines, {
        interactive: opts.interactive !== false,
        style: opts.style || function () {
          return { color: "#1b1f24", weight: 1.5, fillColor: "#ffffff", fillOpacity: 0.6 };
        },
        onEachFeature: opts.onEachFeature
      }).addTo(map);
      map.fitBounds(layer.getBounds(), { padding: [8, 8] });
      el.setAttribute("data-ready", String(layer.getLayers().length));
      return { map: map, outlines: layer };
    });
  }

  window.VigieTerritoryMap = { create: create, getJson: getJson };
})();
