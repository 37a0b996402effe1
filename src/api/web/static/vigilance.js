// The public vigilance map: the communes' outlines (no tile layer: nothing is fetched from
// outside), each filled with its level's colour AND labelled with its level's word, since
// colour alone tells nothing to a colour-blind reader. The table beside says the same in text.
// The map itself is static/territory_map.js, shared with the technicians' map.
(function () {
  "use strict";
  var el = document.getElementById("carte");
  if (!el || typeof L === "undefined" || !window.VigieTerritoryMap) { return; }

  VigieTerritoryMap.getJson("/vigilance/etat.json")
    .then(function (state) {
      var byInsee = {};
      state.communes.forEach(function (c) { byInsee[c.insee] = c; });
      return VigieTerritoryMap.create(el, {
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
      });
    })
    .catch(function () {
      el.textContent = "La carte n'a pas pu être chargée ; le tableau donne les mêmes informations.";
    });
})();
