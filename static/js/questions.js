// Audience questions (issue 16) on the phone, the moderator's screen and the projector.
// Rides on the page's one socket (live.js): the server sends `questions` (coalesced, per
// role) and, to attendees, `my_questions`; this script sends ask/upvote/moderate messages
// through EA.live. All text typed by people is put into the DOM as text, never as HTML.
"use strict";

window.EventApp = window.EventApp || {};

(function (EA) {
  var $ = function (id) { return document.getElementById(id); };
  var root = $("qa") || $("qa-mod") || $("qa-projector");
  if (!root) return;
  var S = {};
  try { S = JSON.parse(root.dataset.qaStrings || "{}"); } catch (e) { S = {}; }
  function t(key) { return S[key] || key; }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function send(message) { return EA.live ? EA.live.send(message) : false; }

  EA.listeners = EA.listeners || {};
  function listen(type, fn) { (EA.listeners[type] = EA.listeners[type] || []).push(fn); }

  var QUESTION_TYPES = { ask_question: 1, upvote_question: 1, moderate_question: 1 };
  var STATE_LABELS = { waiting: "waiting for review", shown: "shown", answered: "answered", hidden: "hidden" };

  function countsText(counts) {
    if (!counts) return "";
    var parts = [];
    if (counts.waiting) parts.push(t("waiting for review") + ": " + counts.waiting);
    if (counts.hidden) parts.push(t("hidden by the moderator") + ": " + counts.hidden);
    if (counts.answered) parts.push(t("answered") + ": " + counts.answered);
    return parts.join(" · ");
  }

  function sortQuestions(list, by) {
    return list.slice().sort(function (a, b) {
      if (by === "time") return b.id - a.id;
      return (b.upvotes - a.upvotes) || (a.id - b.id);
    });
  }

  // ---------------------------------------------------------------- phone

  function phone() {
    var feed = null, mine = { questions: [], upvoted: [], presenting: [] };
    var upvoted = {};   // question id -> true, confirmed by the server
    var wanted = {};    // question id -> {up, seq}: a wish not yet acknowledged
    var sortBy = "votes", chosen = null;

    function activePitch() {
      if (!feed || !feed.pitches.length) return null;
      for (var i = 0; i < feed.pitches.length; i++) if (feed.pitches[i].pitch_id === chosen) return feed.pitches[i];
      for (var j = 0; j < feed.pitches.length; j++) if (feed.pitches[j].on_stage) return feed.pitches[j];
      return feed.pitches[0];
    }

    function isMine(id) {
      for (var i = 0; i < mine.questions.length; i++) if (mine.questions[i].id === id) return true;
      return false;
    }

    function render() {
      var pitch = activePitch();
      root.hidden = !feed || !feed.enabled || (!pitch && !mine.questions.length);
      if (!feed) return;
      var select = $("qa-pitch");
      select.textContent = "";
      (feed.pitches || []).forEach(function (p) {
        var option = el("option", null, p.title);
        option.value = String(p.pitch_id);
        option.selected = pitch && p.pitch_id === pitch.pitch_id;
        select.appendChild(option);
      });
      $("qa-pitch-row").hidden = (feed.pitches || []).length < 2;
      $("qa-form").hidden = !pitch;
      $("qa-anon-row").hidden = !feed.anonymous_allowed;
      $("qa-text").maxLength = feed.max_length;
      $("qa-premod").hidden = !feed.premoderated;
      var until = "";
      if (pitch && pitch.open_until) {
        until = t("Questions open until") + " " + new Date(pitch.open_until).toLocaleTimeString(
          document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
      }
      $("qa-counts").textContent = pitch ? [until, countsText(pitch.counts)].filter(Boolean).join(" · ") : "";
      var list = $("qa-list");
      list.textContent = "";
      var questions = pitch ? sortQuestions(pitch.questions, sortBy) : [];
      var presenting = pitch && mine.presenting.indexOf(pitch.pitch_id) !== -1;
      questions.forEach(function (q) {
        var li = el("li", "qa-item" + (q.state === "answered" ? " answered" : ""));
        li.dataset.question = String(q.id);
        var body = el("div", "qa-body");
        body.appendChild(el("p", "qa-text", q.text));
        body.appendChild(el("p", "qa-meta", (q.name || t("Anonymous")) +
          (q.state === "answered" ? " · " + t("answered") : "") + (isMine(q.id) ? " · " + t("your question") : "")));
        li.appendChild(body);
        if (presenting && q.name && !isMine(q.id)) {
          var reply = el("button", "small qa-reply", t("Reply privately"));
          reply.type = "button";
          reply.addEventListener("click", function () { replyPrivately(q.id, reply); });
          body.appendChild(reply);
        }
        var up = q.id in wanted ? wanted[q.id].up : !!upvoted[q.id];
        var button = el("button", "qa-up", "▲ " + q.upvotes);
        button.type = "button";
        button.setAttribute("aria-pressed", up ? "true" : "false");
        button.setAttribute("aria-label", t("Upvote") + " (" + q.upvotes + ")");
        if (isMine(q.id)) { button.disabled = true; button.title = t("your question"); }
        button.addEventListener("click", function () {
          var wish = { up: !(q.id in wanted ? wanted[q.id].up : !!upvoted[q.id]), seq: EA.nextSeq() };
          wanted[q.id] = wish;
          send({ type: "upvote_question", question_id: q.id, up: wish.up, seq: wish.seq });
          render();
        });
        li.appendChild(button);
        list.appendChild(li);
      });
      if (pitch && !questions.length) list.appendChild(el("li", "muted", t("No questions yet.")));
      var own = $("qa-mine");
      own.textContent = "";
      $("qa-mine-block").hidden = !mine.questions.length;
      mine.questions.slice().reverse().forEach(function (q) {
        var li = el("li", "qa-own " + q.state);
        li.appendChild(el("p", "qa-text", q.text));
        var state = t(STATE_LABELS[q.state] || q.state);
        if (q.state === "hidden" && q.reason) state += " – " + t(q.reason);
        li.appendChild(el("p", "qa-meta", state + " · ▲ " + q.upvotes + (q.name ? "" : " · " + t("Anonymous"))));
        own.appendChild(li);
      });
    }

    function replyPrivately(id, button) {
      var body = new URLSearchParams();
      body.set("csrf", root.dataset.csrf || "");
      fetch("/e/" + encodeURIComponent(document.body.dataset.code) + "/questions/" + id + "/contact", {
        method: "POST", body: body, credentials: "same-origin",
      }).then(function (r) { return r.json(); }).then(function (data) {
        button.disabled = true;
        button.textContent = data.message || "";
      }).catch(function () { button.textContent = t("Not sent; try again."); });
    }

    $("qa-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var pitch = activePitch();
      var text = $("qa-text").value;
      if (!pitch) return;
      $("qa-status").textContent = t("Sending…");
      $("qa-status").className = "qa-status";
      if (!send({ type: "ask_question", pitch_id: pitch.pitch_id, text: text, anonymous: $("qa-anon").checked })) {
        $("qa-status").textContent = t("Offline – reconnecting…");
      }
    });
    $("qa-pitch").addEventListener("change", function () { chosen = parseInt($("qa-pitch").value, 10); render(); });
    Array.prototype.forEach.call(root.querySelectorAll("[data-sort]"), function (b) {
      b.addEventListener("click", function () {
        sortBy = b.dataset.sort;
        Array.prototype.forEach.call(root.querySelectorAll("[data-sort]"), function (o) {
          o.setAttribute("aria-pressed", o === b ? "true" : "false");
        });
        render();
      });
    });

    listen("questions", function (msg) { if (msg.role === "attendee") { feed = msg; render(); } });
    listen("my_questions", function (msg) {
      mine = msg;
      upvoted = {};
      msg.upvoted.forEach(function (id) { upvoted[id] = true; });
      // After a reconnect: send again what the server does not have yet, with the wish's
      // own seq (a resend counts once; an older wish still in flight changes nothing).
      Object.keys(wanted).forEach(function (id) {
        var wish = wanted[id];
        if (!!upvoted[id] === wish.up) delete wanted[id];
        else send({ type: "upvote_question", question_id: parseInt(id, 10), up: wish.up, seq: wish.seq });
      });
      render();
    });
    listen("question_ack", function (msg) {
      if (msg.action === "upvote") {
        // The stored wish: ours, or a newer one of another tab.
        if (msg.up) upvoted[msg.question_id] = true; else delete upvoted[msg.question_id];
        var wish = wanted[msg.question_id];
        if (wish && wish.seq <= msg.seq) delete wanted[msg.question_id];
      } else if (msg.action === "ask") {
        $("qa-text").value = "";
        $("qa-status").textContent = msg.state === "waiting" ? t("Sent – waiting for review.") : t("Sent ✓");
        $("qa-status").className = "qa-status ok";
      }
      render();
    });
    listen("error", function (msg) {
      if (!(msg.ref in QUESTION_TYPES)) return false;
      if (msg.ref === "upvote_question" && msg.question_id !== undefined) delete wanted[msg.question_id];
      $("qa-status").textContent = msg.message;
      $("qa-status").className = "qa-status error";
      render();
      return true;
    });
  }

  // ---------------------------------------------------------------- moderator

  function moderator() {
    var feed = null;

    function act(id, action, reason) {
      var message = { type: "moderate_question", question_id: id, action: action };
      if (reason) message.reason = reason;
      $("qa-mod-error").textContent = "";
      send(message);
    }

    function button(label, onClick, className) {
      var b = el("button", "small " + (className || ""), t(label));
      b.type = "button";
      b.addEventListener("click", onClick);
      return b;
    }

    function item(q) {
      var li = el("li", "qa-item mod " + q.state + (q.highlighted ? " highlighted" : ""));
      li.dataset.question = String(q.id);
      var body = el("div", "qa-body");
      body.appendChild(el("p", "qa-text", q.text));
      var meta = (q.name || t("Anonymous")) + " · ▲ " + q.upvotes + " · " + t(STATE_LABELS[q.state] || q.state);
      if (q.reason) meta += " – " + t(q.reason);
      if (q.highlighted) meta += " · " + t("on the projector");
      body.appendChild(el("p", "qa-meta", meta));
      var tools = el("div", "qa-tools");
      if (q.state === "waiting") tools.appendChild(button("Approve", function () { act(q.id, "approve"); }, "go"));
      if (q.state === "shown" || q.state === "answered") {
        tools.appendChild(q.highlighted
          ? button("Off the projector", function () { act(q.id, "unhighlight"); })
          : button("Show on projector", function () { act(q.id, "highlight"); }, "primary-small"));
        tools.appendChild(q.state === "answered"
          ? button("Not answered", function () { act(q.id, "unanswer"); })
          : button("Answered", function () { act(q.id, "answer"); }, "go"));
      }
      if (q.state === "hidden") {
        tools.appendChild(button("Restore", function () { act(q.id, "restore"); }));
      } else {
        var reason = el("select", "qa-reason");
        reason.setAttribute("aria-label", t("Reason"));
        ["off_topic", "duplicate", "inappropriate", "spam"].forEach(function (r) {
          var o = el("option", null, t(r)); o.value = r; reason.appendChild(o);
        });
        tools.appendChild(reason);
        tools.appendChild(button("Hide", function () { act(q.id, "hide", reason.value); }, "danger"));
      }
      body.appendChild(tools);
      li.appendChild(body);
      return li;
    }

    function render() {
      var list = $("qa-mod-list");
      list.textContent = "";
      if (!feed) return;
      root.hidden = !feed.enabled;
      // The pitch on stage first, then pitches still open for questions after it left
      // the stage (late questions must not wait unseen for review).
      var pitches = feed.pitches.slice().sort(function (a, b) { return (b.on_stage ? 1 : 0) - (a.on_stage ? 1 : 0); });
      var stage = pitches[0] || null;
      $("qa-mod-title").textContent = stage ? stage.title : "";
      $("qa-mod-counts").textContent = stage ? countsText(stage.counts) : t("No pitch is open for questions.");
      pitches.forEach(function (pitch, index) {
        if (index > 0) {
          var head = el("li", "qa-mod-pitch", pitch.title);
          var counts = countsText(pitch.counts);
          if (counts) head.appendChild(el("span", "muted small", " · " + counts));
          list.appendChild(head);
        }
        sortQuestions(pitch.questions, "votes").forEach(function (q) { list.appendChild(item(q)); });
        if (index === 0 && !pitch.questions.length) list.appendChild(el("li", "muted", t("No questions yet.")));
      });
    }

    listen("questions", function (msg) { if (msg.role === "moderator") { feed = msg; render(); } });
    listen("question_ack", function () { return true; });
    listen("error", function (msg) {
      if (!(msg.ref in QUESTION_TYPES)) return false;
      $("qa-mod-error").textContent = msg.message;
      return true;
    });
  }

  // ---------------------------------------------------------------- projector

  function projector() {
    listen("questions", function (msg) {
      if (msg.role !== "projector") return;
      var q = msg.highlighted;
      var top = msg.top || [];
      root.hidden = !msg.enabled || (!q && !top.length);
      $("qa-proj-text").textContent = q ? q.text : "";
      $("qa-proj-meta").textContent = q ? (q.name || t("Anonymous")) + " · ▲ " + q.upvotes +
        (q.state === "answered" ? " · " + t("answered") : "") : "";
      $("qa-proj-main").hidden = !q;
      var list = $("qa-proj-top");
      list.textContent = "";
      top.forEach(function (item) {
        if (q && item.id === q.id) return;
        var li = el("li", null);
        li.appendChild(el("span", "qa-proj-votes", "▲ " + item.upvotes));
        li.appendChild(el("span", "qa-proj-item", item.text));
        list.appendChild(li);
      });
      list.hidden = !list.children.length;
      // Moderation stays visible in the hall: how many wait for review or were hidden.
      $("qa-proj-counts").textContent = countsText(msg.counts && {
        waiting: msg.counts.waiting, hidden: msg.counts.hidden });
    });
  }

  if (root.id === "qa") phone();
  else if (root.id === "qa-mod") moderator();
  else projector();
})(window.EventApp);
