// The pair page's two charts, drawn with plotly.js served by this server (no CDN): the close
// with every past forecast at the hour it was for, its prediction bands shaded (95 % light,
// 80 % darker, the next forecast's included), the naive forecast and the next forecast;
// and the cumulative squared-error difference model - naive (the Diebold-Mariano picture).
// Backfilled forecasts (coinlstm backfill) are hollow orange markers, apart from the live ones.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pair-data").textContent);
  function xs(points) { return points.map(function (p) { return p[0]; }); }
  function ys(points) { return points.map(function (p) { return p[1]; }); }
  function column(points, i) { return points.map(function (p) { return p[i]; }); }
  // Each band: its upper bound (an invisible line), then its lower bound filled up to it.
  // Widest first, so the narrower band is drawn over it. A forecast without a band leaves
  // a gap (null bounds, not connected).
  var shades = { "95": "rgba(26, 95, 180, 0.12)", "80": "rgba(26, 95, 180, 0.25)" };
  var labels = Object.keys(data.bands || {}).sort(function (a, b) {
    return parseFloat(b.replace("_", ".")) - parseFloat(a.replace("_", "."));
  });
  var traces = [];
  labels.forEach(function (label) {
    var points = data.bands[label];
    if (!points.length) { return; }
    var name = label.replace("_", ".") + " % band";
    traces.push({ name: name + " (upper)", x: xs(points), y: column(points, 2),
      mode: "lines", line: { width: 0, color: shades[label] || "rgba(26, 95, 180, 0.18)" },
      connectgaps: false, showlegend: false, hoverinfo: "x+y+name" });
    traces.push({ name: name, x: xs(points), y: column(points, 1), mode: "lines",
      line: { width: 0, color: shades[label] || "rgba(26, 95, 180, 0.18)" },
      fill: "tonexty", fillcolor: shades[label] || "rgba(26, 95, 180, 0.18)",
      connectgaps: false, hoverinfo: "x+y+name" });
  });
  traces = traces.concat([
    { name: "close", x: xs(data.closes), y: ys(data.closes), mode: "lines",
      line: { color: "#1d2330", width: 1.5 } },
    { name: "naive forecast (last close)", x: xs(data.naive), y: ys(data.naive), mode: "lines",
      line: { color: "#9aa5b8", width: 1, dash: "dot" } },
    { name: "forecast", x: xs(data.forecasts), y: ys(data.forecasts), mode: "markers",
      marker: { color: "#1a5fb4", size: 5 } }
  ]);
  if (data.backfilled && data.backfilled.length) {  // replayed afterwards: hollow, apart
    traces.push({ name: "backfilled forecast", x: xs(data.backfilled), y: ys(data.backfilled),
      mode: "markers", marker: { color: "#c64600", size: 5, symbol: "circle-open" } });
  }
  if (data.next) {
    var star = { name: "next forecast", x: [data.next.time], y: [data.next.forecast],
      mode: "markers", marker: { color: "#e66100", size: 13, symbol: "star" } };
    var inner = data.next.bands && data.next.bands[labels[labels.length - 1]];
    if (inner) {  // the next forecast's narrowest band as an error bar on its star
      star.error_y = { type: "data", symmetric: false, array: [inner[1] - data.next.forecast],
        arrayminus: [data.next.forecast - inner[0]], color: "#e66100", thickness: 1.5 };
    }
    traces.push(star);
  }
  var config = { displaylogo: false, responsive: true };
  // Both charts span the same hours: the closes shown up to the next forecast.
  var first = data.closes.length ? data.closes[0][0] : null;
  var last = data.next ? data.next.time : (data.closes.length ? data.closes[data.closes.length - 1][0] : null);
  function ms(text) { return Date.parse(text.replace(" ", "T") + ":00Z"); }
  var pad = first && last ? Math.max((ms(last) - ms(first)) * 0.03, 1800000) : 0;
  var range = first && last ? [ms(first) - pad, ms(last) + pad] : undefined;
  Plotly.newPlot("price-chart", traces, {
    title: { text: data.symbol + " close and forecasts (" + data.interval + ", UTC)" },
    margin: { t: 40, r: 20, b: 40, l: 70 }, legend: { orientation: "h" },
    xaxis: { type: "date", range: range }, yaxis: { tickformat: ".3~g" }
  }, config);
  Plotly.newPlot("dm-chart", [
    { name: "Σ (model error² − naive error²)", x: xs(data.cumulative), y: ys(data.cumulative),
      mode: "lines+markers", line: { color: "#813d9c", width: 1.5 }, marker: { size: 4 } }
  ], {
    title: { text: "cumulative squared-error difference vs naive (down = model better)" },
    margin: { t: 40, r: 20, b: 40, l: 70 }, xaxis: { type: "date", range: range },
    yaxis: { exponentformat: "e", zeroline: true, zerolinecolor: "#5b6578" }, showlegend: false
  }, config);
})();
