// Join page: if this phone joined before (token kept on the phone) but lost its cookie,
// restore the cookie instead of creating a second attendee.
"use strict";

(function () {
  var code = document.body.dataset.code;
  var token = localStorage.getItem("ea:token:" + code);
  if (!token) return;
  fetch("/e/" + encodeURIComponent(code) + "/resume", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: token }),
    credentials: "same-origin",
  }).then(function (response) {
    if (response.ok) location.reload();
    else if (response.status === 404) localStorage.removeItem("ea:token:" + code);
  }).catch(function () { /* offline: the form still works */ });
})();
