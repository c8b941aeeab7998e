// The attendee's rating page. A rating is "Saved ✓" only after the server's vote_ack,
// which it sends once the vote is committed. Unconfirmed ratings are kept on the phone
// and resent after reconnect; their seq makes a resend count once.
"use strict";

(function (EA) {
  var body = document.body;
  var code = body.dataset.code;
  var tokenKey = "ea:token:" + code;
  var pendingKey = "ea:pending:" + code;
  var seqKey = "ea:seq";
  if (body.dataset.token) localStorage.setItem(tokenKey, body.dataset.token);

  var event = null;
  var mine = {};     // pitch id -> {score, seq} confirmed by the server
  var pending = {};  // pitch id -> {score, seq} sent, not yet confirmed
  try { pending = JSON.parse(localStorage.getItem(pendingKey) || "{}"); } catch (e) { pending = {}; }
  var lastError = null;
  var resetNotice = {};  // pitch id -> true: the moderator reset it; ask to rate again
  var sendTimer = {};    // pitch id -> timer of a coalesced send
  var lastSent = {};     // pitch id -> when a vote for it was last sent
  var COALESCE_MS = 400; // a quick series of taps sends only the newest rating

  var $ = function (id) { return document.getElementById(id); };

  function savePending() { localStorage.setItem(pendingKey, JSON.stringify(pending)); }

  function nextSeq() {
    // Grows across reloads and tabs: a newer rating always has the larger seq.
    var last = parseInt(localStorage.getItem(seqKey) || "0", 10);
    var seq = Math.max(Date.now(), last + 1);
    localStorage.setItem(seqKey, String(seq));
    return seq;
  }

  function currentPitch() {
    if (!event) return null;
    for (var i = 0; i < event.pitches.length; i++) {
      if (event.pitches[i].id === event.current_pitch_id) return event.pitches[i];
    }
    return null;
  }

  function render() {
    var pitch = currentPitch();
    $("pitch-title").textContent = pitch ? pitch.title : EA.t("Waiting for the first pitch…");
    $("pitch-presenter").textContent = pitch && pitch.presenter ? pitch.presenter : "";
    var open = pitch && pitch.state === "open";
    $("rating").hidden = !open;
    $("voting-note").textContent = !pitch ? "" :
      pitch.state === "pending" ? EA.t("Voting opens soon.") :
      open ? "" : EA.t("Voting is closed.");
    if (!pitch) return;
    var scale = $("scale");
    var wanted = pending[pitch.id] || mine[pitch.id];
    if (scale.dataset.pitch !== String(pitch.id)) {
      scale.textContent = "";
      scale.dataset.pitch = String(pitch.id);
      for (var s = event.scale.min; s <= event.scale.max; s++) {
        var label = event.scale.labels[s - event.scale.min] || "";
        var button = EA.el("button", "score", null);
        button.type = "button";
        button.dataset.score = String(s);
        button.appendChild(EA.el("span", "num", s));
        if (label) button.appendChild(EA.el("span", "lbl", label));
        button.addEventListener("click", onScore);
        scale.appendChild(button);
      }
    }
    Array.prototype.forEach.call(scale.children, function (b) {
      b.setAttribute("aria-pressed", wanted && String(wanted.score) === b.dataset.score ? "true" : "false");
    });
    var status = $("vote-status");
    if (pending[pitch.id]) { status.textContent = EA.t("Saving…"); status.className = "vote-status saving"; }
    else if (mine[pitch.id]) { status.textContent = EA.t("Saved ✓"); status.className = "vote-status saved"; }
    else if (resetNotice[pitch.id] && open) {
      status.textContent = EA.t("Your rating was reset — please rate again.");
      status.className = "vote-status reset";
    }
    else { status.textContent = lastError || ""; status.className = "vote-status"; }
  }

  function onScore(e) {
    var pitch = currentPitch();
    if (!pitch || pitch.state !== "open") return;
    var score = parseInt(e.currentTarget.dataset.score, 10);
    var vote = { score: score, seq: nextSeq() };
    pending[pitch.id] = vote;
    savePending();
    lastError = null;
    delete resetNotice[pitch.id];
    sendSoon(pitch.id);
    render();
  }

  // Send the newest pending rating of a pitch; taps in quick succession are coalesced,
  // so the server sees the last one, not a burst it has to rate-limit.
  function sendSoon(pid) {
    if (sendTimer[pid]) return;
    var wait = Math.max(0, (lastSent[pid] || 0) + COALESCE_MS - Date.now());
    sendTimer[pid] = setTimeout(function () {
      delete sendTimer[pid];
      var v = pending[pid];
      if (!v) return;
      lastSent[pid] = Date.now();
      live.send({ type: "vote", pitch_id: parseInt(pid, 10), score: v.score, seq: v.seq });
    }, wait);
  }

  function resendPending() {
    Object.keys(pending).forEach(function (pid) {
      var v = pending[pid];
      var known = mine[pid];
      if (known && known.seq >= v.seq) { delete pending[pid]; return; }
      live.send({ type: "vote", pitch_id: parseInt(pid, 10), score: v.score, seq: v.seq });
    });
    savePending();
  }

  var live = EA.connect({
    code: code,
    hello: function () { return { type: "hello", token: localStorage.getItem(tokenKey) }; },
    onStatus: function (s) {
      var conn = $("conn");
      conn.textContent = s === "open" ? EA.t("Connected") : EA.t("Offline – reconnecting…");
      conn.className = "conn " + s;
    },
    handlers: {
      welcome: function (msg) {
        event = msg.event;
        mine = {};
        Object.keys(msg.my_votes || {}).forEach(function (pid) { mine[pid] = msg.my_votes[pid]; });
        resendPending();
        render();
      },
      state: function (msg) {
        if (event && msg.event.version < event.version) return;
        event = msg.event;
        render();
      },
      vote_ack: function (msg) {
        var p = pending[msg.pitch_id];
        if (p && p.seq <= msg.seq) { delete pending[msg.pitch_id]; savePending(); }
        var known = mine[msg.pitch_id];
        if (!known || known.seq <= msg.seq) mine[msg.pitch_id] = { score: msg.score, seq: msg.seq };
        render();
      },
      vote_reset: function (msg) {
        // The moderator deleted this pitch's votes: mine is gone; say so while it is open.
        delete mine[msg.pitch_id];
        delete pending[msg.pitch_id];
        savePending();
        resetNotice[msg.pitch_id] = true;
        render();
      },
      error: function (msg) {
        if (msg.code === "bad_token") {
          localStorage.removeItem(tokenKey);
          location.reload();
          return;
        }
        var retry = msg.code === "not_saved" || msg.code === "rate_limited";
        if (msg.ref === "vote" && !retry && msg.pitch_id != null) {
          // Refused for good (e.g. voting closed meanwhile): do not resend it.
          delete pending[msg.pitch_id];
          savePending();
        }
        if (retry && msg.ref === "vote") setTimeout(resendPending, 1000 + Math.random() * 2000);
        lastError = EA.errorText(msg);
        render();
      },
    },
  });
})(window.EventApp);
