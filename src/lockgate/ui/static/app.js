// lockgate dashboard: draws every chart on the page from its inert JSON, makes chart
// points with a URL clickable, and keeps sortable table headers and compare boxes working.
"use strict";
(function () {
  function drawCharts() {
    document.querySelectorAll("div.chart[data-figure]").forEach(function (el) {
      var holder = document.getElementById(el.getAttribute("data-figure"));
      if (!holder) { return; }
      var figure = JSON.parse(holder.textContent);
      var layout = Object.assign({ margin: { t: 40, r: 20, b: 40, l: 50 } }, figure.layout || {});
      var config = { displaylogo: false, responsive: true };
      window.Plotly.newPlot(el, figure.data || [], layout, config).then(function () {
        el.setAttribute("data-rendered", "true");
      });
      el.on("plotly_click", function (event) {
        var point = event && event.points && event.points[0];
        var target = point && point.customdata;
        if (Array.isArray(target)) { target = target[0]; }
        if (typeof target === "string" && target.charAt(0) === "/") {
          window.location.assign(target);
        }
      });
    });
  }
  function limitCompare() {
    var form = document.getElementById("compare-form");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      var n = form.querySelectorAll("input[name=run]:checked").length;
      if (n < 2 || n > 10) {
        event.preventDefault();
        window.alert("Pick 2 to 10 runs to compare (" + n + " picked).");
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawCharts(); limitCompare(); });
  } else { drawCharts(); limitCompare(); }
})();
