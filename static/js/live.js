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

  EA.connect = function (options) {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      "/e/" + encodeURIComponent(options.code) + "/ws";
    var socket = null, attempt = 0, pingTimer = null, closedByUs = false;

    function status(s) { if (options.onStatus) options.onStatus(s); }

    function open() {
      socket = new WebSocket(url);
      socket.onopen = function () {
        attempt = 0;
        socket.send(JSON.stringify(options.hello()));
        pingTimer = setInterval(function () { send({ type: "ping" }); }, 25000);
        status("open");
      };
      socket.onmessage = function (event) {
        var msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        var handler = options.handlers[msg.type];
        if (handler) handler(msg);
      };
      socket.onclose = function () {
        clearInterval(pingTimer);
        status("closed");
        if (closedByUs) return;
        // Exponential backoff with full jitter: a hall of phones must not reconnect in lockstep.
        var ceiling = Math.min(15000, 500 * Math.pow(2, attempt++));
        setTimeout(open, 250 + Math.random() * ceiling);
      };
    }

    function send(message) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(message));
        return true;
      }
      return false;
    }

    // A phone waking from a locked screen: reconnect now instead of waiting out the backoff.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && socket && socket.readyState === WebSocket.CLOSED) {
        open();
      }
    });
    window.addEventListener("online", function () {
      if (socket && socket.readyState === WebSocket.CLOSED) open();
    });

    open();
    return {
      send: send,
      close: function () { closedByUs = true; if (socket) socket.close(); },
    };
  };
})(window.EventApp);
