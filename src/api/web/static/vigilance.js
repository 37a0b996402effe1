// The public vigilance map: the communes' outlines (no tile layer: nothing is fetched from
// outside), each filled with its level's colour AND labelled with its level's word, since
// colour alone tells nothing to a colour-blind reader. The table beside says the same in text.
// The map itself is static/territory_map.js, shared with the technicians' map.
(function () {
  "use strict";
  var el = document.getElementById("carte");
  if (!el || typeof L === "undefined" || !window.VigieTerritoryMap) { return; }
  var SEVERITY = { red: 3, orange: 2, yellow: 1 };

  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }

  function inside(a, frame) {
    return a.left >= frame.left && a.right <= frame.right && a.top >= frame.top && a.bottom <= frame.bottom;
  }

  // A commune in alert keeps its label on screen, unless it would cover a label already placed:
  // with many communes in alert on a phone the labels hid the map and each other. The most
  // severe are placed first; a label left out shows on hover or tap, like those of the communes
  // not in alert, and the table lists every commune. Run again at each zoom and resize.
  function declutter(alerts) {
    var placed = [];
    var frame = el.getBoundingClientRect();
    alerts.forEach(function (a) {
      if (!a.layer.getTooltip().options.permanent) {
        a.layer.unbindTooltip();
        a.layer.bindTooltip(a.label, a.options(true));
      }
      var tip = a.layer.getTooltip().getElement();
      var box = tip ? tip.getBoundingClientRect() : null;
      // Cut by the map's edge, a label is no better than one under another.
      if (box && (!inside(box, frame) || placed.some(function (p) { return overlaps(box, p); }))) {
        a.layer.unbindTooltip();
        a.layer.bindTooltip(a.label, a.options(false));
      } else if (box) {
        placed.push(box);
      }
    });
    return placed.length;
  }

  VigieTerritoryMap.getJson("/vigilance/etat.json")
    .then(function (state) {
      var byInsee = {};
      var alerts = [];
      state.communes.forEach(function (c) { byInsee[c.insee] = c; });
      return VigieTerritoryMap.create(el, {
        style: function (f) {
          var c = byInsee[f.properties.code];
          return { color: "#1b1f24", weight: 1.5, fillColor: c ? c.colour : "#ffffff", fillOpacity: 0.75 };
        },
        onEachFeature: function (f, lyr) {
          var c = byInsee[f.properties.code];
          var inAlert = !!(c && c.level !== "none");
          var word = c ? (c.level === "none" ? "pas d'alerte" : "alerte " + c.level_word) : "niveau inconnu";
          var label = (c ? c.name : f.properties.nom) + " : " + word;
          var options = function (permanent) {
            return {
              permanent: permanent,
              direction: "center",
              className: "commune-label" + (inAlert ? " commune-label--alert" : "")
            };
          };
          lyr.bindTooltip(label, options(false));
          if (inAlert) { alerts.push({ layer: lyr, label: label, options: options, severity: SEVERITY[c.level] || 0 }); }
          if (lyr.feature) { lyr.feature.properties.vigieLabel = label; }
        }
      }).then(function (drawn) {
        // Most severe first; among equals, the order of the outlines (stable, by INSEE code).
        alerts.sort(function (a, b) { return b.severity - a.severity; });
        var relabel = function () {
          // How many labels stay on screen (those left out fade away in 200 ms).
          el.setAttribute("data-labels", String(declutter(alerts)));
        };
        relabel();
        drawn.map.on("zoomend resize", relabel);
      });
    })
    .catch(function () {
      el.textContent = "La carte n'a pas pu être chargée ; le tableau donne les mêmes informations.";
    });
})();
