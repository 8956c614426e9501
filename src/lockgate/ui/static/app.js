// lockgate dashboard: draws every chart on the page from its inert JSON, makes chart
// points with a URL clickable, and keeps sortable table headers and compare boxes working;
// the runs table's chosen columns are saved as a shared view in the store; parallel
// coordinates fall back to SVG lines where WebGL is missing.
"use strict";
(function () {
  var webgl = (function () {
    try {
      var canvas = document.createElement("canvas");
      var gl = canvas.getContext("webgl") || canvas.getContext("experimental-webgl");
      // what Plotly's parcoords asks of WebGL (a software context may lack it)
      return !!(gl && gl.getExtension("ANGLE_instanced_arrays") &&
                gl.getExtension("OES_element_index_uint"));
    } catch (e) { return false; }
  })();
  // Parallel coordinates need WebGL; without it each run becomes an SVG line across the
  // same axes (each scaled to 0..1, real values on hover): the same picture, no blank box.
  function withoutWebgl(figure, el, force) {
    var data = figure.data || [];
    if (!force || !data.some(function (t) { return t.type === "parcoords"; })) { return figure; }
    var out = [];
    data.forEach(function (trace) {
      if (trace.type !== "parcoords") { out.push(trace); return; }
      var dims = trace.dimensions || [];
      var labels = dims.map(function (d) { return d.label; });
      var ranges = dims.map(function (d) {
        var v = d.values.filter(function (x) { return typeof x === "number"; });
        var lo = Math.min.apply(null, v), hi = Math.max.apply(null, v);
        return [lo, hi > lo ? hi - lo : 1];
      });
      var n = dims.length ? dims[0].values.length : 0;
      for (var i = 0; i < n; i++) {
        out.push({
          type: "scatter", mode: "lines+markers", x: labels, showlegend: false,
          y: dims.map(function (d, j) {
            var v = d.values[i]; return typeof v === "number" ? (v - ranges[j][0]) / ranges[j][1] : null;
          }),
          text: dims.map(function (d) { return d.label + " = " + d.values[i]; }),
          hovertemplate: "%{text}<extra></extra>"
        });
      }
    });
    el.setAttribute("data-fallback", "svg");
    var note = document.createElement("p");
    note.className = "chart-note";
    note.textContent = "WebGL is not available: parallel coordinates drawn as lines (each axis scaled to its range; hover for values).";
    el.parentNode.insertBefore(note, el);
    var layout = Object.assign({}, figure.layout || {}, { yaxis: { range: [-0.05, 1.05], title: { text: "scaled" } } });
    return { data: out, layout: layout };
  }
  function chooseColumns() {
    // Hiding columns is for this page; "Save view" keeps the shown ones in the store,
    // for everyone using it (the form's hidden `columns` field follows the boxes).
    var tools = document.querySelector(".runs-tools");
    var tableEl = document.getElementById("runs-table");
    var chooser = document.getElementById("column-chooser");
    if (!tools || !tableEl || !chooser) { return; }
    var saveForm = document.getElementById("save-view");
    var hidden = {};
    var heads = tableEl.querySelectorAll("thead th");
    function apply() {
      var shown = [];
      heads.forEach(function (th, i) {
        var a = th.querySelector("a[data-sort]");
        if (!a) { return; }
        var column = a.getAttribute("data-column") || a.getAttribute("data-sort");
        var off = !!hidden[column];
        if (!off && column !== "name") { shown.push(column); }
        tableEl.querySelectorAll("tr > :nth-child(" + (i + 1) + ")").forEach(function (cell) {
          cell.classList.toggle("col-hidden", off);
        });
      });
      if (saveForm) { saveForm.querySelector("input[name=columns]").value = shown.join(","); }
    }
    heads.forEach(function (th) {
      var a = th.querySelector("a[data-sort]");
      if (!a) { return; }
      var name = a.getAttribute("data-column") || a.getAttribute("data-sort");
      var label = document.createElement("label");
      var box = document.createElement("input");
      box.type = "checkbox"; box.checked = !hidden[name]; box.setAttribute("data-column", name);
      box.addEventListener("change", function () {
        if (box.checked) { delete hidden[name]; } else { hidden[name] = true; }
        apply();
      });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + a.textContent.replace(/ [▲▼]$/, "")));
      chooser.appendChild(label);
    });
    apply();
  }
  function drawCharts() {
    document.querySelectorAll("div.chart[data-figure]").forEach(function (el) {
      var holder = document.getElementById(el.getAttribute("data-figure"));
      if (!holder) { return; }
      var original = JSON.parse(holder.textContent);
      var figure = withoutWebgl(original, el, !webgl);
      var config = { displaylogo: false, responsive: true };
      function layoutOf(f) {
        return Object.assign({ margin: { t: 40, r: 20, b: 40, l: 50 } }, f.layout || {});
      }
      window.Plotly.newPlot(el, figure.data || [], layoutOf(figure), config).then(function () {
        // A WebGL context that Plotly still cannot use: draw the SVG fallback instead.
        if (el.textContent.indexOf("WebGL is not supported") >= 0 && figure === original) {
          window.Plotly.purge(el);
          el.innerHTML = "";
          var svg = withoutWebgl(original, el, true);
          return window.Plotly.newPlot(el, svg.data, layoutOf(svg), config);
        }
      }).then(function () {
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
    document.addEventListener("DOMContentLoaded", function () {
      drawCharts(); limitCompare(); chooseColumns();
    });
  } else { drawCharts(); limitCompare(); chooseColumns(); }
})();
