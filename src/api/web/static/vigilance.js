// The public vigilance map: the communes' outlines (no tile layer: nothing is fetched from
// outside), each filled with its level's colour AND labelled with its level's word, since
// colour alone tells nothing to a colour-blind reader. The table beside says the same in text.
(function () {
  "use strict";
  var el = document.getElementById("carte");
  if (!el || typeof L === "undefined") { return; }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(url + " : " + r.status); } return r.json(); });
  }

  Promise.all([getJson("/vigilance/contours.geojson"), getJson("/vigilance/etat.json")])
    .then(function (res) {
      var outlines = res[0], state = res[1], byInsee = {};
      state.communes.forEach(function (c) { byInsee[c.insee] = c; });
      el.textContent = "";
      var map = L.map(el, { attributionControl: false, zoomSnap: 0.25, scrollWheelZoom: false });
      var layer = L.geoJSON(outlines, {
        style: function (f) {
          var c = byInsee[f.properties.code];
          return { color: "#1b1f24", weight: 1.5, fillColor: c ? c.colour : "#ffffff", fillOpacity: 0.75 };
        },
        onEachFeature: function (f, lyr) {
          var c = byInsee[f.properties.code];
          var word = c ? (c.level === "none" ? "pas d'alerte" : "alerte " + c.level_word) : "niveau inconnu";
          var label = (c ? c.name : f.properties.nom) + " : " + word;
          // A commune in alert keeps its label on screen; the others show theirs on hover or tap.
          lyr.bindTooltip(label, {
            permanent: !!(c && c.level !== "none"),
            direction: "center",
            className: "commune-label" + (c && c.level !== "none" ? " commune-label--alert" : "")
          });
          if (lyr.feature) { lyr.feature.properties.vigieLabel = label; }
        }
      }).addTo(map);
      map.fitBounds(layer.getBounds(), { padding: [8, 8] });
      el.setAttribute("data-ready", String(layer.getLayers().length));
    })
    .catch(function () {
      el.textContent = "La carte n'a pas pu être chargée ; le tableau donne les mêmes informations.";
    });
})();
