// The attendee's rating page. A rating is "Saved ✓" only after the server's vote_ack,
// which it sends once the vote is committed. Unconfirmed ratings are kept on the phone
// and resent after reconnect; their seq makes a resend count once.
//
// The phone always ends knowing which rating counted: a reset (the pitch's round grows)
// clears the saved mark and asks to rate again; a rating refused because voting closed
// says which earlier rating counted, or that none did; other tabs of the same phone follow
// the newest confirmed rating.
"use strict";

(function (EA) {
  var body = document.body;
  var code = body.dataset.code;
  var tokenKey = "ea:token:" + code;
  var pendingKey = "ea:pending:" + code;
  var ackKey = "ea:ack:" + code;
  var stageKey = "ea:stage:" + code;
  if (body.dataset.token) localStorage.setItem(tokenKey, body.dataset.token);
  // The stage this phone is on (several stages): the scanned projector's QR code names it,
  // else the phone remembers where it was; the server's default is the first stage.
  if (body.dataset.stage) localStorage.setItem(stageKey, body.dataset.stage);

  var event = null;
  var mine = {};     // pitch id -> {score, seq} confirmed by the server
  var pending = {};  // pitch id -> {score, seq, round} sent, not yet confirmed
  try { pending = JSON.parse(localStorage.getItem(pendingKey) || "{}"); } catch (e) { pending = {}; }
  var rounds = {};   // pitch id -> the reset round this phone's ratings belong to
  var outcome = {};  // pitch id -> what happened to a refused rating, in words
  var wasReset = {}; // pitch id -> true after a reset until the person rates again
  var lastError = null;
  var lastSent = 0, sendTimer = null;
  var SEND_GAP_MS = 250; // quick taps coalesce: only the newest rating goes out

  var $ = function (id) { return document.getElementById(id); };

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }

  function savePending() { localStorage.setItem(pendingKey, JSON.stringify(pending)); }


  function currentPitch() {
    if (!event) return null;
    for (var i = 0; i < event.pitches.length; i++) {
      if (event.pitches[i].id === event.current_pitch_id) return event.pitches[i];
    }
    return null;
  }

  // A reset starts a new round for the pitch: ratings of the old round are gone.
  function noticeResets() {
    event.pitches.forEach(function (p) {
      var known = rounds[p.id];
      rounds[p.id] = p.round;
      if (known === undefined || p.round <= known) return;
      if (mine[p.id] || pending[p.id]) wasReset[p.id] = true;
      delete mine[p.id];
      delete pending[p.id];
      delete outcome[p.id];
      savePending();
    });
  }

  function scoreText(score) {
    var label = event.scale.labels[score - event.scale.min];
    return label ? score + " (" + label + ")" : String(score);
  }

  // The stage picker: one tap moves the phone to another stage (same person, same votes).
  function renderStages() {
    var picker = $("stage-picker");
    if (!picker || !event) return;
    Array.prototype.forEach.call(picker.children, function (b) {
      var on = b.dataset.stage === String(event.stage_id) ? "true" : "false";
      if (b.getAttribute("aria-pressed") !== on) b.setAttribute("aria-pressed", on);
    });
  }

  function chooseStage(e) {
    var id = parseInt(e.currentTarget.dataset.stage, 10);
    localStorage.setItem(stageKey, String(id));
    // A reload (or a shared link) stays on the chosen stage, not the one first scanned.
    if (window.history && history.replaceState) history.replaceState(null, "", "?stage=" + id);
    if (event && event.stage_id === id) return;
    live.send({ type: "switch_stage", stage_id: id });
  }

  if ($("stage-picker")) {
    Array.prototype.forEach.call($("stage-picker").children, function (b) {
      b.addEventListener("click", chooseStage);
    });
  }

  function render() {
    renderStages();
    var pitch = currentPitch();
    $("pitch-title").textContent = pitch ? pitch.title : EA.t("Waiting for the first pitch…");
    $("pitch-presenter").textContent = pitch && pitch.presenter ? pitch.presenter : "";
    var open = pitch && pitch.state === "open";
    $("rating").hidden = !open;
    var note = !pitch ? "" : pitch.state === "pending" ? EA.t("Voting opens soon.") :
      open ? "" : EA.t("Voting is closed.");
    if ($("voting-note").textContent !== note) $("voting-note").textContent = note;
    // Closed or revealed: say which rating counted, whatever happened on the way.
    var result = "";
    if (pitch && pitch.state !== "pending" && !open) {
      var counted = mine[pitch.id];
      result = (outcome[pitch.id] ? outcome[pitch.id] + " " : "") +
        (counted ? fill(EA.t("Your rating {score} counted."), { score: scoreText(counted.score) })
          : pending[pitch.id] ? EA.t("Checking whether your rating arrived…")
          : EA.t("No rating of yours counted for this pitch."));
    }
    if ($("vote-outcome").textContent !== result) $("vote-outcome").textContent = result;
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
      var pressed = wanted && String(wanted.score) === b.dataset.score ? "true" : "false";
      if (b.getAttribute("aria-pressed") !== pressed) b.setAttribute("aria-pressed", pressed);
    });
    var status = $("vote-status");
    var text, cls;
    if (pending[pitch.id]) { text = EA.t("Saving…"); cls = "vote-status saving"; }
    else if (mine[pitch.id]) { text = EA.t("Saved ✓"); cls = "vote-status saved"; }
    else if (wasReset[pitch.id] && open) { text = EA.t("Your rating was reset — please rate again."); cls = "vote-status reset"; }
    else { text = lastError || ""; cls = "vote-status"; }
    if (status.textContent !== text) status.textContent = text;
    if (status.className !== cls) status.className = cls;
  }

  function sendVote(pid) {
    var v = pending[pid];
    if (!v) return;
    lastSent = Date.now();
    live.send({ type: "vote", pitch_id: parseInt(pid, 10), score: v.score, seq: v.seq });
  }

  function onScore(e) {
    var pitch = currentPitch();
    if (!pitch || pitch.state !== "open") return;
    var score = parseInt(e.currentTarget.dataset.score, 10);
    pending[pitch.id] = { score: score, seq: EA.nextSeq(), round: pitch.round };
    savePending();
    lastError = null;
    delete wasReset[pitch.id];
    delete outcome[pitch.id];
    // Several taps in a quarter second send only the last one: the server's rate limit
    // is never spent on ratings that are already out of date.
    clearTimeout(sendTimer);
    var wait = lastSent + SEND_GAP_MS - Date.now();
    if (wait <= 0) sendVote(pitch.id);
    else sendTimer = setTimeout(function () { sendVote(pitch.id); }, wait);
    render();
  }

  function resendPending() {
    Object.keys(pending).forEach(function (pid) {
      var v = pending[pid];
      var known = mine[pid];
      if (known && known.seq >= v.seq) { delete pending[pid]; return; }
      if (v.round !== undefined && rounds[pid] !== undefined && v.round < rounds[pid]) {
        // Rated before a reset: that rating was deleted with the others.
        delete pending[pid];
        wasReset[pid] = true;
        return;
      }
      sendVote(pid);
    });
    savePending();
  }

  function confirmed(pid, score, seq) {
    var p = pending[pid];
    if (p && p.seq <= seq) { delete pending[pid]; savePending(); }
    var known = mine[pid];
    if (!known || known.seq <= seq) mine[pid] = { score: score, seq: seq };
  }

  // Another tab of this phone got a confirmation: show the same current rating here.
  window.addEventListener("storage", function (e) {
    if (e.key !== ackKey || !e.newValue || !event) return;
    try {
      var a = JSON.parse(e.newValue);
      confirmed(String(a.pitch_id), a.score, a.seq);
      render();
    } catch (err) { /* ignore a malformed entry */ }
  });

  var live = EA.connect({
    code: code,
    hello: function () {
      var hello = { type: "hello", token: localStorage.getItem(tokenKey) };
      var stage = parseInt(localStorage.getItem(stageKey) || "", 10);
      if (stage > 0) hello.stage = stage;
      return hello;
    },
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
        noticeResets();
        resendPending();
        render();
      },
      state: function (msg) {
        // Versions count per stage: a state of another stage is a switch, never stale.
        if (event && msg.event.stage_id === event.stage_id && msg.event.version < event.version) return;
        event = msg.event;
        noticeResets();
        render();
      },
      vote_ack: function (msg) {
        confirmed(String(msg.pitch_id), msg.score, msg.seq);
        localStorage.setItem(ackKey, JSON.stringify({ pitch_id: msg.pitch_id, score: msg.score, seq: msg.seq }));
        render();
      },
      // The server's word that a pitch's votes were deleted (any process).
      vote_reset: function (msg) {
        var pid = String(msg.pitch_id);
        if (mine[pid] || pending[pid]) wasReset[pid] = true;
        delete mine[pid];
        delete pending[pid];
        savePending();
        render();
      },
      error: function (msg) {
        if (msg.code === "bad_token") {
          localStorage.removeItem(tokenKey);
          location.reload();
          return;
        }
        if (msg.code === "unknown_stage") {
          // The remembered stage is gone: back to the conference's first stage.
          localStorage.removeItem(stageKey);
          if (msg.ref === "hello") { location.reload(); return; }
        }
        if (msg.ref === "vote" && msg.code !== "not_saved" && msg.code !== "rate_limited" &&
            msg.pitch_id !== undefined) {
          // Refused for good (e.g. voting closed meanwhile): do not resend it, and say
          // what it means for this pitch.
          var pid = String(msg.pitch_id);
          var lost = pending[pid];
          delete pending[pid];
          savePending();
          if (lost && event) {
            outcome[pid] = fill(EA.t("Your rating {score} arrived after voting closed and did not count."),
              { score: scoreText(lost.score) });
          }
        }
        if (msg.code === "not_saved" || msg.code === "rate_limited") {
          setTimeout(resendPending, 1000 + Math.random() * 2000);
        }
        if (msg.code === "not_saved") setTimeout(resendPending, 1000 + Math.random() * 2000);
        lastError = EA.errorText(msg);
        render();
      },
    },
  });
})(window.EventApp);
