// Reconnecting WebSocket client shared by every page.
// Sends hello on each (re)connect, dispatches messages on `type`, backs off with jitter.
"use strict";

window.EventApp = window.EventApp || {};

(function (EA) {
  // Strings come from the same gettext catalogue as the pages (eventapp.i18n.js_catalog,
  // a data attribute of <body>). English text is the key; EA.t/EA.nt/EA.pt are extracted
  // like _(), ngettext and pgettext (babel.cfg). Placeholders are named: %(name)s.
  var catalog = JSON.parse(document.body.dataset.strings || "{}");
  var messages = catalog.messages || {};
  var pluralTags = catalog.plural_tags || ["one", "other"];
  EA.lang = catalog.lang || document.documentElement.lang || "en";
  var pluralRules = window.Intl && Intl.PluralRules ? new Intl.PluralRules(EA.lang) : null;

  EA.format = function (text, params) {
    if (!params) return text;
    return text.replace(/%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdif]|%%/g, function (m, key) {
      if (!key) return "%";
      var v = params[key];
      return v === undefined || v === null ? "" : (typeof v === "number" ? EA.number(v, 0) : String(v));
    });
  };
  // The phone's wish counter (ratings, upvotes): grows across reloads and tabs, so a newer
  // wish always has the larger seq and a late, older one changes nothing on the server.
  EA.nextSeq = function () {
    var last = parseInt(localStorage.getItem("ea:seq") || "0", 10);
    var seq = Math.max(Date.now(), last + 1);
    localStorage.setItem("ea:seq", String(seq));
    return seq;
  };
  EA.t = function (text, params) {
    var s = messages[text];
    return EA.format(typeof s === "string" && s ? s : text, params);
  };
  EA.pt = function (context, text, params) {
    var s = messages[context + "\u0004" + text];
    return EA.format(typeof s === "string" && s ? s : text, params);
  };
  EA.nt = function (singular, plural, n, params) {
    var forms = messages[singular], out;
    if (Array.isArray(forms) && pluralRules) {
      var index = pluralTags.indexOf(pluralRules.select(n));
      out = forms[index < 0 ? forms.length - 1 : index];
    }
    if (!out) out = n === 1 ? singular : plural;
    var all = { num: n };
    for (var k in params || {}) all[k] = params[k];
    return EA.format(out, all);
  };
  // Numbers as the reader writes them ("4,00" in German).
  EA.number = function (value, digits) {
    if (value === null || value === undefined || isNaN(value)) return "–";
    return new Intl.NumberFormat(EA.lang, {
      minimumFractionDigits: digits, maximumFractionDigits: digits
    }).format(value);
  };

  // A pitch's state as a word ("open" is an adjective here, not the button's verb).
  EA.stateLabel = function (state) {
    switch (state) {
      case "pending": return EA.pt("pitch state", "pending");
      case "open": return EA.pt("pitch state", "open");
      case "closed": return EA.pt("pitch state", "closed");
      case "revealed": return EA.pt("pitch state", "revealed");
      default: return state;
    }
  };

  // A refused message, in the reader's language: the server sends a code and parameters
  // (README, "Error codes"); its English `message` is only the fallback for new codes.
  EA.errorText = function (msg) {
    var p = msg.params || {};
    switch (msg.code) {
      case "bad_json": return EA.t("Message is not valid JSON.");
      case "too_large": return EA.t("Message larger than %(limit)d bytes.", p);
      case "unknown_type": return EA.t("Unknown message type.");
      case "bad_message": return EA.t("The app sent a message the server does not understand.");
      case "not_joined": return EA.t("Send hello first.");
      case "already_joined": return EA.t("This socket has already said hello.");
      case "bad_token": return EA.t("Unknown attendee; please join the event.");
      case "forbidden": return EA.t("This link is not valid.");
      case "unknown_pitch": return EA.t("No such pitch in this event.");
      case "voting_closed": return EA.t("Voting on this pitch is not open.");
      case "out_of_scale": return EA.t("Score must be between %(min)d and %(max)d.", p);
      case "rate_limited": return EA.t("Too many messages; slow down.");
      case "not_saved": return EA.t("Vote not saved; retrying.");
      case "link_replaced": return EA.t("This link was replaced. Ask the organiser for the new link.");
      case "too_many_sockets": return EA.t("This device is connected too many times; close a tab.");
      case "no_pitches": return EA.t("This event has no pitches.");
      case "last_pitch": return EA.t("This is the last pitch.");
      case "not_open": return EA.t("Voting is not open.");
      case "not_voted": return EA.t("Open voting on this pitch first.");
      case "not_confirmed": return EA.t("Resetting votes needs confirmation.");
      case "unknown_stage": return EA.t("No such stage in this event.");
      case "wrong_stage": return EA.t("This pitch is on another stage.");
      default: return EA.t("Something went wrong. Please try again.");
    }
  };

  // Build DOM from text only: names typed by people are never parsed as HTML.
  EA.el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  EA.listeners = EA.listeners || {};
  EA.listen = function (type, fn) { (EA.listeners[type] = EA.listeners[type] || []).push(fn); };

  var PING_MS = 25000;
  // Close code of a screen whose link the organiser renewed: reconnecting cannot help.
  var LINK_REPLACED = 4403;

  EA.connect = function (options) {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      "/e/" + encodeURIComponent(options.code) + "/ws";
    var socket = null, attempt = 0, pingTimer = null, retryTimer = null, closedByUs = false;
    var lastHeard = 0;

    function status(s) { if (options.onStatus) options.onStatus(s); }

    function open() {
      clearTimeout(retryTimer);
      retryTimer = null;
      var ws = new WebSocket(url);
      socket = ws;
      // Events of a socket we gave up on are ignored: only the newest one may act,
      // so a phone never holds two connections (or counts twice in the hall).
      ws.onopen = function () {
        if (ws !== socket) return;
        attempt = 0;
        lastHeard = Date.now();
        ws.send(JSON.stringify(options.hello()));
        clearInterval(pingTimer);
        pingTimer = setInterval(heartbeat, PING_MS);
        status("open");
      };
      ws.onmessage = function (event) {
        if (ws !== socket) return;
        lastHeard = Date.now();
        var msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        dispatch(msg);
        // A welcome carries the messages that follow it at once (questions feed, mine).
        if (Array.isArray(msg.then)) msg.then.forEach(function (m) { if (ws === socket) dispatch(m); });
      };
      ws.onclose = function (event) {
        if (ws !== socket) return;
        if (event.code === LINK_REPLACED) { ended(EA.t("This link was replaced. Ask the organiser for the new link.")); return; }
        if (event.code === 1012) attempt = 0; // server restarting: another takes over now
        dropAndRetry();
      };
    }

    function dispatch(msg) {
      if (!msg || typeof msg.type !== "string") return;
      // Listeners other scripts add (EA.listen, e.g. questions.js) see a message first
      // and may claim it (return true), e.g. errors about their own requests.
      var claimed = (EA.listeners[msg.type] || []).some(function (fn) { return fn(msg) === true; });
      var handler = options.handlers[msg.type];
      if (handler && !claimed) handler(msg);
    }

    // Give up on the current socket now and reconnect after a backoff. Its close event
    // may take minutes on a dead network, so it is detached rather than waited for.
    function dropAndRetry() {
      var old = socket;
      socket = null;
      clearInterval(pingTimer);
      if (old) {
        old.onopen = old.onmessage = old.onclose = null;
        try { old.close(); } catch (e) { /* already closing */ }
      }
      status("closed");
      if (closedByUs) return;
      clearTimeout(retryTimer);
      // Exponential backoff with full jitter: a hall of phones must not reconnect in lockstep.
      var ceiling = Math.min(15000, 500 * Math.pow(2, attempt++));
      retryTimer = setTimeout(open, 250 + Math.random() * ceiling);
    }

    // The server answers every ping; silence for two rounds means the connection is dead
    // even though the browser has not noticed (Wi-Fi gone without a close).
    function heartbeat() {
      if (Date.now() - lastHeard > 2 * PING_MS + 5000) { dropAndRetry(); return; }
      send({ type: "ping" });
    }

    // Back now (screen unlocked, network returned): reconnect soon instead of waiting out
    // the backoff, with a little jitter because the whole hall comes back at once.
    function reconnectSoon() {
      if (closedByUs || socket) return;
      attempt = 0;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(open, Math.random() * 1000);
    }

    // For good: say why on the page (options.onEnded may show it its own way).
    function ended(text) {
      closedByUs = true;
      socket = null;
      clearInterval(pingTimer);
      clearTimeout(retryTimer);
      status("closed");
      if (options.onEnded) { options.onEnded(text); return; }
      var note = EA.el("p", "ended", text);
      note.setAttribute("role", "alert");
      note.id = "ended";
      document.body.insertBefore(note, document.body.firstChild);
    }

    function send(message) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(message));
        return true;
      }
      return false;
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") reconnectSoon();
    });
    // The device knows it lost the network: say so and keep new ratings pending instead of
    // writing them into a socket that cannot deliver them.
    window.addEventListener("offline", function () { if (socket) dropAndRetry(); });
    window.addEventListener("online", reconnectSoon);

    open();
    // The page's one socket, for other scripts to send on (EA.live.send).
    EA.live = {
      send: send,
      close: function () {
        closedByUs = true;
        clearTimeout(retryTimer);
        if (socket) socket.close();
      },
    };
    return EA.live;
  };
})(window.EventApp);
