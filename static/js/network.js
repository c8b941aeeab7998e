// Networking pages: live notices from the one socket (contact requests, answers,
// exchanges, partner interest). Messages carry names only; contact details are always
// fetched over HTTP, where consent is checked each time.
"use strict";

(function (EA) {
  var body = document.body;
  var code = body.dataset.code;
  var net = body.dataset.net;
  var notice = document.getElementById("live-notice");

  function show(text, href, linkText) {
    notice.textContent = "";
    notice.appendChild(EA.el("span", "text", text));
    if (href) {
      var a = EA.el("a", "go", linkText || EA.t("Open"));
      a.href = href;
      notice.appendChild(document.createTextNode(" "));
      notice.appendChild(a);
    }
    notice.hidden = false;
  }

  // A shown code expires after some hours; a phone left on the code page renews it.
  var code_img = document.getElementById("my-code");
  if (code_img) {
    setInterval(function () {
      code_img.src = code_img.src.split("?")[0] + "?t=" + Date.now();
    }, 30 * 60 * 1000);
  }

  EA.connect({
    code: code,
    // The HttpOnly cookie (path /e/CODE) identifies the phone; the token is a fallback.
    hello: function () {
      var token = localStorage.getItem("ea:token:" + code);
      return token ? { type: "hello", token: token } : { type: "hello" };
    },
    onStatus: function (s) {
      var conn = document.getElementById("conn");
      if (!conn) return;
      conn.textContent = s === "open" ? EA.t("Connected") : EA.t("Offline – reconnecting…");
      conn.className = "conn " + s;
    },
    handlers: {
      contact_request: function (msg) {
        show(EA.t("%(name)s wants to exchange contacts.", { name: msg.name || "" }), net + "#requests", EA.t("Answer"));
      },
      contact_answer: function (msg) {
        if (msg.accepted) {
          show(EA.t("%(name)s accepted your request.", { name: msg.name || "" }), net + "/contacts/" + msg.attendee_id,
               EA.t("View contact"));
        } else {
          show(EA.t("%(name)s declined your request.", { name: msg.name || "" }));
        }
      },
      contact_exchanged: function (msg) {
        show(EA.t("You exchanged contacts with %(name)s.", { name: msg.name || "" }),
             net + "/contacts/" + msg.attendee_id, EA.t("View contact"));
      },
      partner_interest: function (msg) {
        show(EA.t("%(name)s wants to get involved in your pitch.", { name: msg.name || "" }),
             net + "/pitches#pitch-" + msg.pitch_id, EA.t("Open"));
      },
      error: function (msg) {
        if (msg.code === "bad_token") localStorage.removeItem("ea:token:" + code);
      },
    },
  });
})(window.EventApp);
