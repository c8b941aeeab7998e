// Projector and moderator screens: both render the event state and the coalesced
// `screen` message; the moderator also sends commands.
"use strict";

(function (EA) {
  var body = document.body;
  var role = body.dataset.role;
  var event = null;
  var screen = null;
  var $ = function (id) { return document.getElementById(id); };

  function pitchById(id) {
    if (!event) return null;
    for (var i = 0; i < event.pitches.length; i++) if (event.pitches[i].id === id) return event.pitches[i];
    return null;
  }

  function fmt(x) { return EA.number(x, 2); }

  function renderBars(summary) {
    var bars = $("bars");
    bars.textContent = "";
    if (!summary) { $("mean").textContent = ""; return; }
    var max = 0;
    Object.keys(summary.distribution).forEach(function (k) { max = Math.max(max, summary.distribution[k]); });
    for (var s = event.scale.min; s <= event.scale.max; s++) {
      var n = summary.distribution[String(s)] || 0;
      var row = EA.el("div", "bar-row");
      row.appendChild(EA.el("span", "bar-label", s));
      var track = EA.el("span", "bar-track");
      var fill = EA.el("span", "bar-fill");
      fill.style.width = (max ? (100 * n / max) : 0) + "%";
      track.appendChild(fill);
      row.appendChild(track);
      row.appendChild(EA.el("span", "bar-count", n));
      bars.appendChild(row);
    }
    $("mean").textContent = EA.t("Mean %(mean)s", { mean: fmt(summary.mean) });
  }

  function renderLeaderboard() {
    var list = $("leaderboard");
    list.textContent = "";
    var rows = screen ? screen.leaderboard : [];
    var limit = role === "projector" ? 8 : rows.length;
    if (!rows.length) { list.appendChild(EA.el("li", "muted", EA.t("No results yet."))); return; }
    rows.slice(0, limit).forEach(function (r) {
      var li = EA.el("li", "standing");
      li.appendChild(EA.el("span", "rank", r.rank));
      li.appendChild(EA.el("span", "title", r.title));
      li.appendChild(EA.el("span", "num adjusted", fmt(r.adjusted)));
      li.appendChild(EA.el("span", "num small", "Ø " + fmt(r.mean) + " · " + r.n));
      list.appendChild(li);
    });
    // The stage screen never scrolls and never shows half a row: drop the rows that do
    // not fit below the QR code on this screen (the table is ranked, so the top stays).
    if (role === "projector") {
      var bottom = list.parentNode.getBoundingClientRect().bottom;
      while (list.children.length > 1 && list.lastChild.getBoundingClientRect().bottom > bottom + 0.5) {
        list.removeChild(list.lastChild);
      }
    }
  }

  function renderAgenda() {
    var list = $("agenda");
    if (!list) return;
    list.textContent = "";
    event.pitches.forEach(function (p) {
      var li = EA.el("li", "agenda-item" + (p.id === event.current_pitch_id ? " current" : ""));
      li.appendChild(EA.el("span", "title", p.title));
      li.appendChild(EA.el("span", "badge " + p.state, EA.stateLabel(p.state)));
      var votes = screen && screen.votes ? screen.votes[String(p.id)] || 0 : 0;
      li.appendChild(EA.el("span", "num", EA.nt("%(num)d vote", "%(num)d votes", votes)));
      var go = EA.el("button", "small", "▶");
      go.type = "button";
      go.title = p.title;
      go.addEventListener("click", function () { command({ type: "goto", pitch_id: p.id }); });
      li.appendChild(go);
      li.appendChild(resetButton(p));
      list.appendChild(li);
    });
  }

  // Reset asks inline (no modal dead-end): the button turns into "Yes, reset" / "Cancel".
  function resetButton(p) {
    var wrap = EA.el("span", "reset");
    var ask = EA.el("button", "small danger", "↺");
    ask.type = "button";
    ask.title = EA.t("Really delete all votes for this pitch?");
    ask.addEventListener("click", function () {
      wrap.textContent = "";
      wrap.appendChild(EA.el("span", "small", EA.t("Really delete all votes for this pitch?")));
      var yes = EA.el("button", "small danger confirm-reset", EA.t("Yes, reset"));
      yes.type = "button";
      yes.addEventListener("click", function () { command({ type: "reset_votes", pitch_id: p.id, confirm: true }); });
      var no = EA.el("button", "small", EA.t("Cancel"));
      no.type = "button";
      no.addEventListener("click", renderAgenda);
      wrap.appendChild(yes);
      wrap.appendChild(no);
    });
    wrap.appendChild(ask);
    return wrap;
  }

  function render() {
    if (!event) return;
    var pitch = pitchById(event.current_pitch_id);
    $("pitch-title").textContent = pitch ? pitch.title : EA.t("Waiting for the first pitch…");
    if ($("pitch-presenter")) $("pitch-presenter").textContent = pitch && pitch.presenter ? pitch.presenter : "";
    if ($("pitch-position")) {
      $("pitch-position").textContent = pitch ? (pitch.position + 1) + " / " + event.pitches.length : "";
    }
    if ($("pitch-state")) {
      $("pitch-state").textContent = pitch ? EA.stateLabel(pitch.state) : "";
      $("pitch-state").className = "badge " + (pitch ? pitch.state : "");
    }
    var current = screen && screen.current && pitch && screen.current.pitch_id === pitch.id ? screen.current : null;
    var connected = screen ? screen.connected : 0;
    var votesIn = current ? current.votes_in : 0;
    // "n / connected" only while voting runs: after closing, phones that left would make
    // it read "9 / 0 connected".
    $("turnout").textContent = !pitch || pitch.state === "pending"
      ? EA.nt("%(num)d connected", "%(num)d connected", connected)
      : pitch.state === "open"
        ? EA.t("Votes in: %(votes)s / %(connected)s connected", { votes: votesIn, connected: connected })
        : EA.t("Votes in: %(votes)s", { votes: votesIn });
    var summary = current ? current.summary : null;
    if ($("results").hasAttribute("hidden") !== !summary) $("results").hidden = !summary;
    if ($("blind-note")) $("blind-note").hidden = !!summary || !pitch || pitch.state !== "open";
    renderBars(summary);
    renderLeaderboard();
    renderAgenda();
  }

  function command(message) {
    $("command-error").textContent = "";
    live.send(message);
  }

  // A projector's window changes size (full screen, another beamer): refit the table.
  if (role === "projector") window.addEventListener("resize", function () { render(); });

  if (role === "moderator") {
    document.querySelectorAll("[data-command]").forEach(function (button) {
      button.addEventListener("click", function () { command({ type: button.dataset.command }); });
    });
  }

  var live = EA.connect({
    code: body.dataset.code,
    hello: function () { return { type: "hello", role: role, key: body.dataset.key }; },
    onStatus: function (s) {
      var conn = $("conn");
      conn.className = (role === "projector" ? "conn-dot " : "conn ") + s;
      if (role !== "projector") conn.textContent = s === "open" ? EA.t("Connected") : EA.t("Offline – reconnecting…");
    },
    handlers: {
      welcome: function (msg) { event = msg.event; render(); },
      state: function (msg) {
        if (event && msg.event.version < event.version) return;
        event = msg.event;
        render();
      },
      screen: function (msg) {
        if (event && msg.version < event.version) return;
        screen = msg;
        render();
      },
      command_ack: function () {},
      error: function (msg) { if ($("command-error")) $("command-error").textContent = EA.errorText(msg); },
    },
  });
})(window.EventApp);
