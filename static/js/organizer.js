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

  function fill(body, key, id, cells) {
    var row = document.createElement("tr");
    row.setAttribute(key, String(id));
    cells.forEach(function (cell) {
      var td = document.createElement("td");
      td.textContent = String(cell[0]);
      if (cell[1]) { td.className = cell[1]; }
      row.appendChild(td);
    });
    body.appendChild(row);
  }

  function clear(body) {
    while (body.firstChild) { body.removeChild(body.firstChild); }
  }

  function render(data) {
    text("dash-attendees", data.attendees);
    text("dash-connections", data.connections);
    // Several stages (issue 15): what each stage is doing, and a stage column per pitch.
    var stages = document.getElementById("dash-stages");
    if (stages && data.stages) {
      clear(stages);
      data.stages.forEach(function (s) {
        var state = s.state_label || "–";
        fill(stages, "data-stage", s.id, [[s.name, ""], [s.current_title || "–", "title"],
          [state, "state"], [s.votes, "num votes"], [s.turnout + " %", "num pct"]]);
      });
    }
    var body = document.getElementById("dash-pitches");
    if (!body) { return; }
    clear(body);
    data.pitches.forEach(function (p) {
      var cells = [[p.title, ""], [p.votes, "num votes"], [p.turnout + " %", "num pct"]];
      if (stages) { cells.unshift([p.stage, ""]); }
      fill(body, "data-pitch", p.id, cells);
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
