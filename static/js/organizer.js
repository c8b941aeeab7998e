// Organiser console: keep the live dashboard fresh. Everything else is plain forms, so the
// console works without script too; this only polls the dashboard numbers.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-dashboard");
  if (!url) { return; }

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = String(value); }
  }

  function render(data) {
    text("dash-attendees", data.attendees);
    text("dash-connections", data.connections);
    var body = document.getElementById("dash-pitches");
    if (!body) { return; }
    while (body.firstChild) { body.removeChild(body.firstChild); }
    data.pitches.forEach(function (p) {
      var row = document.createElement("tr");
      row.setAttribute("data-pitch", String(p.id));
      [[p.title, ""], [p.votes, "num votes"], [p.turnout + " %", "num pct"]].forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = String(cell[0]);
        if (cell[1]) { td.className = cell[1]; }
        row.appendChild(td);
      });
      body.appendChild(row);
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { render(data); } })
      .catch(function () { /* offline for a moment: try again on the next tick */ })
      .then(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 3000);
}());
