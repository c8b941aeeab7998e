// Projector and moderator screens: both render the event state and the coalesced
// `screen` message; the moderator also sends commands.
//
// Screen messages arrive up to ten times a second while votes flow. Controls are built
// once per agenda and then only their text and classes change, so a button being pressed,
// a focused control or an open reset confirmation is never replaced under the moderator.
"use strict";

(function (EA) {
  var body = document.body;
  var role = body.dataset.role;
  var event = null;
  var screen = null;
  var $ = function (id) { return document.getElementById(id); };
  var agendaKey = null;   // pitch ids + titles the agenda was built for
  var agendaRows = {};    // pitch id -> {li, badge, votes}
  var lastCommand = null; // the moderator's last command, to say what it did
  var announced = null;   // "pitch id:state" last announced to screen readers

  function pitchById(id) {
    if (!event) return null;
    for (var i = 0; i < event.pitches.length; i++) if (event.pitches[i].id === id) return event.pitches[i];
    return null;
  }

  function fmt(x) { return EA.number(x, 2); }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }

  function setText(node, text) {
    if (node && node.textContent !== String(text)) node.textContent = String(text);
  }

  function renderBars(summary) {
    var bars = $("bars");
    if (!summary) { bars.textContent = ""; setText($("mean"), ""); return; }
    var max = 0;
    Object.keys(summary.distribution).forEach(function (k) { max = Math.max(max, summary.distribution[k]); });
    var size = event.scale.max - event.scale.min + 1;
    if (bars.children.length !== size) {
      bars.textContent = "";
      for (var b = event.scale.min; b <= event.scale.max; b++) {
        var row = EA.el("div", "bar-row");
        row.appendChild(EA.el("span", "bar-label", b));
        var track = EA.el("span", "bar-track");
        track.appendChild(EA.el("span", "bar-fill"));
        row.appendChild(track);
        row.appendChild(EA.el("span", "bar-count", ""));
        bars.appendChild(row);
      }
    }
    for (var s = event.scale.min; s <= event.scale.max; s++) {
      var n = summary.distribution[String(s)] || 0;
      var r = bars.children[s - event.scale.min];
      r.querySelector(".bar-fill").style.width = (max ? (100 * n / max) : 0) + "%";
      setText(r.querySelector(".bar-count"), n);
    }
    setText($("mean"), EA.t("Mean %(mean)s", { mean: fmt(summary.mean) }));
  }

  var conferenceView = body.dataset.view === "conference";

  function stageName(id) {
    var found = (event && event.stages || []).filter(function (s) { return s.id === id; })[0];
    return found && found.name ? found.name : (event ? event.name : "");
  }

  // The moderator's read-only view of what the other stages are doing (several stages).
  function renderStages() {
    var list = $("stages-overview");
    if (!list || !screen || !screen.stages) return;
    var rows = screen.stages.filter(function (s) { return s.stage_id !== event.stage_id; });
    var key = JSON.stringify(rows);
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    list.textContent = "";
    rows.forEach(function (s) {
      var li = EA.el("li", "stage-row");
      li.dataset.stage = String(s.stage_id);
      li.appendChild(EA.el("strong", "stage-name", s.name));
      li.appendChild(EA.el("span", "stage-pitch", s.title || EA.t("Waiting for the first pitch…")));
      if (s.state) li.appendChild(EA.el("span", "badge " + s.state, EA.stateLabel(s.state)));
      li.appendChild(EA.el("span", "muted small", EA.nt("%(num)d connected", "%(num)d connected", s.connected)));
      list.appendChild(li);
    });
  }

  function renderLeaderboard() {
    var list = $("leaderboard");
    var rows = screen ? (conferenceView && screen.conference ? screen.conference.map(function (r) {
      return Object.assign({}, r, { title: r.title + " · " + stageName(r.stage_id) });
    }) : screen.leaderboard) : [];
    var limit = role === "projector" ? 8 : rows.length;
    // On the projector the room below the QR code also depends on the hall code (hall.js).
    var key = JSON.stringify(rows.slice(0, limit)) + (role === "projector" ? window.innerWidth + "x" +
      window.innerHeight + "|" + $("hall-code-box").hidden : "");
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    list.textContent = "";
    if (!rows.length) { list.appendChild(EA.el("li", "muted", EA.t("No results yet."))); return; }
    rows.slice(0, limit).forEach(function (r) {
      var li = EA.el("li", "standing");
      li.appendChild(EA.el("span", "rank", r.rank));
      var title = EA.el("span", "title", r.title);
      title.title = r.title;
      li.appendChild(title);
      var adjusted = EA.el("span", "num adjusted", fmt(r.adjusted));
      adjusted.setAttribute("aria-label", EA.t("adjusted mean") + " " + fmt(r.adjusted));
      li.appendChild(adjusted);
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

  // ---------------------------------------------------------------- moderator agenda

  function buildAgenda() {
    var list = $("agenda");
    list.textContent = "";
    agendaRows = {};
    event.pitches.forEach(function (p) {
      var li = EA.el("li", "agenda-item");
      var title = EA.el("span", "title", p.title);
      li.appendChild(title);
      var badge = EA.el("span", "badge", "");
      li.appendChild(badge);
      var votes = EA.el("span", "num", "");
      li.appendChild(votes);
      var go = EA.el("button", "small icon", "▶");
      go.type = "button";
      go.setAttribute("aria-label", fill(EA.t("Put on stage: {title}"), { title: p.title }));
      go.title = go.getAttribute("aria-label");
      go.dataset.goto = String(p.id);
      go.addEventListener("click", function () { command({ type: "goto", pitch_id: p.id }); });
      li.appendChild(go);
      li.appendChild(resetControls(p, li));
      list.appendChild(li);
      agendaRows[p.id] = { li: li, badge: badge, votes: votes };
    });
  }

  function renderAgenda() {
    if (!$("agenda")) return;
    var key = JSON.stringify(event.pitches.map(function (p) { return [p.id, p.title]; }));
    if (key !== agendaKey) { agendaKey = key; buildAgenda(); }
    event.pitches.forEach(function (p) {
      var row = agendaRows[p.id];
      var cls = "agenda-item" + (p.id === event.current_pitch_id ? " current" : "") +
        (row.li.classList.contains("confirming") ? " confirming" : "");
      if (row.li.className !== cls) row.li.className = cls;
      if (p.id === event.current_pitch_id) row.li.setAttribute("aria-current", "true");
      else row.li.removeAttribute("aria-current");
      setText(row.badge, EA.stateLabel(p.state));
      if (row.badge.className !== "badge " + p.state) row.badge.className = "badge " + p.state;
      var votes = screen && screen.votes ? screen.votes[String(p.id)] || 0 : 0;
      setText(row.votes, EA.nt("%(num)d vote", "%(num)d votes", votes));
    });
  }

  // Reset asks inline (no modal dead-end). The question and its two answers are built once
  // and only shown or hidden: screen updates never take them away; only an answer does.
  function resetControls(p, li) {
    var wrap = EA.el("span", "reset");
    var ask = EA.el("button", "small icon danger", "↺");
    ask.type = "button";
    ask.setAttribute("aria-label", fill(EA.t("Reset votes: {title}"), { title: p.title }));
    ask.title = ask.getAttribute("aria-label");
    var confirm = EA.el("span", "reset-confirm");
    confirm.hidden = true;
    confirm.setAttribute("role", "group");
    confirm.setAttribute("aria-label", fill(EA.t("Reset votes: {title}"), { title: p.title }));
    confirm.appendChild(EA.el("span", "small", EA.t("Really delete all votes for this pitch?")));
    var yes = EA.el("button", "small danger confirm-reset", EA.t("Yes, reset"));
    yes.type = "button";
    var no = EA.el("button", "small cancel-reset", EA.t("Cancel"));
    no.type = "button";
    confirm.appendChild(yes);
    confirm.appendChild(no);
    function close() {
      confirm.hidden = true;
      ask.hidden = false;
      li.classList.remove("confirming");
      ask.focus();
    }
    ask.addEventListener("click", function () {
      ask.hidden = true;
      confirm.hidden = false;
      li.classList.add("confirming");
      no.focus();
    });
    yes.addEventListener("click", function () {
      command({ type: "reset_votes", pitch_id: p.id, confirm: true });
      close();
    });
    no.addEventListener("click", close);
    wrap.appendChild(ask);
    wrap.appendChild(confirm);
    return wrap;
  }

  // "Next" while voting is open would close the running vote: ask first, inline.
  function askBeforeNext() {
    var box = $("next-confirm");
    var pitch = pitchById(event && event.current_pitch_id);
    if (!box || !pitch || pitch.state !== "open") { command({ type: "next" }); return; }
    box.hidden = false;
    $("next-cancel").focus();
  }

  function closeNextConfirm(focusNext) {
    var box = $("next-confirm");
    if (!box || box.hidden) return;
    box.hidden = true;
    if (focusNext) document.querySelector('[data-command="next"]').focus();
  }

  // Screen readers hear what changed on stage, once per change, not every vote.
  function announce(pitch, current) {
    var region = $("announce");
    if (!region || !pitch) return;
    var key = pitch.id + ":" + pitch.state;
    if (key === announced) return;
    // Wait for the numbers of this very state: a screen message older than the state
    // would announce the tally from before the last votes.
    if (!screen || screen.version < event.version) return;
    var first = announced === null;
    announced = key;
    if (first && role === "projector") return;
    var text = pitch.title + ": " + EA.stateLabel(pitch.state);
    if (current && current.summary && current.summary.n) {
      text += ". " + EA.t("Mean %(mean)s", { mean: fmt(current.summary.mean) }) + " · " +
        EA.nt("%(num)d vote", "%(num)d votes", current.summary.n);
    }
    region.textContent = text;
  }

  // A long title uses the room it has: 7vh while everything below it (turnout, bars,
  // mean) still fits on the stage, then smaller steps down to 4.4vh (about 3 cm capitals
  // on a hall screen). Refitted when the title, the screen or the results change.
  var fitted = null;
  function fitTitle() {
    var h1 = $("pitch-title");
    var main = h1.parentNode;
    var key = h1.textContent + "|" + window.innerWidth + "x" + window.innerHeight + "|" +
      $("results").hidden + "|" + $("bars").children.length + "|" + $("blind-note").hidden + "|" +
      $("obtained").textContent;
    if (key === fitted) return;
    fitted = key;
    var size = 7;
    h1.style.fontSize = size + "vh";
    function overflows() {
      var bottom = main.getBoundingClientRect().bottom + 0.5;
      var last = $("results").hidden ? $("turnout") : $("mean");
      return main.scrollHeight > main.clientHeight + 0.5 || last.getBoundingClientRect().bottom > bottom;
    }
    while (size > 4.4 && overflows()) {
      size = Math.max(4.4, size - 0.4);
      h1.style.fontSize = size + "vh";
    }
  }

  function render() {
    if (!event) return;
    var pitch = pitchById(event.current_pitch_id);
    setText($("pitch-title"), pitch ? pitch.title : EA.t("Waiting for the first pitch…"));
    if ($("pitch-presenter")) setText($("pitch-presenter"), pitch && pitch.presenter ? pitch.presenter : "");
    if ($("pitch-position")) {
      setText($("pitch-position"), pitch ? (pitch.position + 1) + " / " + event.pitches.length : "");
    }
    if ($("pitch-state")) {
      setText($("pitch-state"), pitch ? EA.stateLabel(pitch.state) : "");
      $("pitch-state").className = "badge " + (pitch ? pitch.state : "");
    }
    if (!pitch || pitch.state !== "open") closeNextConfirm(false);
    var current = screen && screen.current && pitch && screen.current.pitch_id === pitch.id ? screen.current : null;
    var connected = screen ? screen.connected : 0;
    var votesIn = current ? current.votes_in : 0;
    // "n / connected" only while voting runs: after closing, phones that left would make
    // it read "9 / 0 connected".
    setText($("turnout"), !pitch || pitch.state === "pending"
      ? EA.nt("%(num)d connected", "%(num)d connected", connected)
      : pitch.state === "open"
        ? EA.t("Votes in: %(votes)s / %(connected)s connected", { votes: votesIn, connected: connected })
        : EA.t("Votes in: %(votes)s", { votes: votesIn }));
    var summary = current ? current.summary : null;
    if ($("results").hasAttribute("hidden") !== !summary) $("results").hidden = !summary;
    if ($("blind-note")) $("blind-note").hidden = !!summary || !pitch || pitch.state !== "open";
    renderBars(summary);
    if (role === "projector") fitTitle();
    renderLeaderboard();
    renderStages();
    renderAgenda();
    announce(pitch, current);
  }

  function command(message) {
    setText($("command-error"), "");
    if ($("command-done")) setText($("command-done"), "");
    lastCommand = { type: message.type, before: event ? pitchById(event.current_pitch_id) : null };
    live.send(message);
  }

  // After "next" or "goto" closed a running vote, say so: nothing closes silently.
  function acknowledge(msg) {
    var done = $("command-done");
    if (!done || !lastCommand || lastCommand.type !== msg.command) return;
    var before = lastCommand.before;
    lastCommand = null;
    if ((msg.command === "next" || msg.command === "goto") && before && before.state === "open") {
      setText(done, fill(EA.t("Voting on “{title}” was closed."), { title: before.title }));
    }
  }

  // A projector's window changes size (full screen, another beamer): refit the table.
  if (role === "projector") window.addEventListener("resize", function () { render(); });

  if (role === "moderator") {
    document.querySelectorAll("[data-command]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (button.dataset.command === "next") { askBeforeNext(); return; }
        closeNextConfirm(false);
        command({ type: button.dataset.command });
      });
    });
    $("next-yes").addEventListener("click", function () { closeNextConfirm(true); command({ type: "next" }); });
    $("next-cancel").addEventListener("click", function () { closeNextConfirm(true); });
  }

  var live = EA.connect({
    code: body.dataset.code,
    hello: function () {
      var hello = { type: "hello", role: role, key: body.dataset.key };
      // The organiser's key opens any stage: the page says which one.
      if (body.dataset.stage) hello.stage = parseInt(body.dataset.stage, 10);
      if (conferenceView) hello.view = "conference";
      return hello;
    },
    onStatus: function (s) {
      var conn = $("conn");
      conn.className = (role === "projector" ? "conn-dot " : "conn ") + s;
      var text = s === "open" ? EA.t("Connected") : EA.t("Offline – reconnecting…");
      if (role !== "projector") conn.textContent = text;
      else conn.setAttribute("aria-label", text);
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
      command_ack: acknowledge,
      error: function (msg) { if ($("command-error")) $("command-error").textContent = EA.errorText(msg); },
    },
  });
})(window.EventApp);
