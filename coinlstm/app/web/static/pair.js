// The pair page's two charts, drawn with plotly.js served by this server (no CDN): the close
// with every past forecast at the hour it was for, the naive forecast and the next forecast;
// and the cumulative squared-error difference model - naive (the Diebold-Mariano picture).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pair-data").textContent);
  function xs(points) { return points.map(function (p) { return p[0]; }); }
  function ys(points) { return points.map(function (p) { return p[1]; }); }
  var traces = [
    { name: "close", x: xs(data.closes), y: ys(data.closes), mode: "lines",
      line: { color: "#1d2330", width: 1.5 } },
    { name: "naive forecast (last close)", x: xs(data.naive), y: ys(data.naive), mode: "lines",
      line: { color: "#9aa5b8", width: 1, dash: "dot" } },
    { name: "forecast", x: xs(data.forecasts), y: ys(data.forecasts), mode: "markers",
      marker: { color: "#1a5fb4", size: 5 } }
  ];
  if (data.next) {
    traces.push({ name: "next forecast", x: [data.next.time], y: [data.next.forecast],
      mode: "markers", marker: { color: "#e66100", size: 13, symbol: "star" } });
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
