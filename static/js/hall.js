// Projector: the join QR code and hall code (new every minute in "hall code" mode) and the
// line saying how the result was obtained (admission mode, turnout against expected).
"use strict";

(function (EA) {
  var body = document.body;
  var root = "/e/" + encodeURIComponent(body.dataset.code) + "/projector/" +
    encodeURIComponent(body.dataset.key);
  // The stage this projector shows (its QR code puts phones on it; issue 15).
  var stage = body.dataset.stage ? "stage=" + encodeURIComponent(body.dataset.stage) : "";
  var $ = function (id) { return document.getElementById(id); };
  var t = function (s) { return EA && EA.t ? EA.t(s) : s; };
  var modes = { open: t("open admission"), hall: t("hall code"), invite: t("invite list") };

  function refresh() {
    fetch(root + "/admission.json" + (stage ? "?" + stage : ""), { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (a) {
        if (!a) { setTimeout(refresh, 10000); return; }
        var box = $("hall-code-box");
        var before = box.hidden + "|" + $("obtained").textContent;
        if (a.hall_code) {
          $("hall-code").textContent = a.hall_code;
          box.hidden = false;
          $("join-qr").src = root + "/join-qr.svg?" + (stage ? stage + "&" : "") + "c=" + encodeURIComponent(a.hall_code);
        } else {
          box.hidden = true;
        }
        var line = t("Admission") + ": " + (modes[a.mode] || a.mode) + " · " + a.attendees + " " + t("attendees");
        if (a.expected) {
          line += " / " + a.expected + " " + t("expected") + " (" + Math.round(100 * a.attendees / a.expected) + " %)";
        }
        var obtained = $("obtained");
        obtained.textContent = line;
        obtained.hidden = false;
        // Both lines take room on the stage: screen.js refits the title and the leaderboard
        // on "resize" when they changed.
        if (box.hidden + "|" + obtained.textContent !== before) window.dispatchEvent(new Event("resize"));
        // Poll just after the code changes, and at least every 15 s for the turnout.
        setTimeout(refresh, Math.min(15000, a.next_change_in * 1000 + 500));
      })
      .catch(function () { setTimeout(refresh, 5000); });
  }
  refresh();
})(window.EventApp);
