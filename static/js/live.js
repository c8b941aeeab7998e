// Reconnecting WebSocket client shared by every page.
// Sends hello on each (re)connect, dispatches messages on `type`, backs off with jitter.
"use strict";

window.EventApp = window.EventApp || {};

(function (EA) {
  EA.strings = JSON.parse(document.body.dataset.strings || "{}");
  EA.t = function (key) { return EA.strings[key] || key; };

  // Build DOM from text only: names typed by people are never parsed as HTML.
  EA.el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  var PING_MS = 25000;
  // Close code of a screen whose link the organiser renewed: reconnecting cannot help.
  var LINK_REPLACED = 4403;
  var REPLACED_TEXT = "This link was replaced. Ask the organiser for the new link.";

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
        var handler = options.handlers[msg.type];
        if (handler) handler(msg);
      };
      ws.onclose = function (event) {
        if (ws !== socket) return;
        if (event.code === LINK_REPLACED) { ended(EA.t(REPLACED_TEXT)); return; }
        dropAndRetry();
      };
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
    return {
      send: send,
      close: function () {
        closedByUs = true;
        clearTimeout(retryTimer);
        if (socket) socket.close();
      },
    };
  };
})(window.EventApp);
