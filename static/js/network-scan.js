// The in-app scanner: the browser's BarcodeDetector on the camera (or on a photo) where
// the browser has one; otherwise the phone's camera app opens the link by itself, and a
// pasted link works everywhere. Only links to this site's exchange pages are followed.
"use strict";

(function (EA) {
  var code = document.body.dataset.code;
  var $ = function (id) { return document.getElementById(id); };
  var status = $("scan-status");
  var prefix = location.origin + "/e/" + code + "/n/";
  // A name badge's QR code (personal join link) offers the same exchange (issue 12).
  var badgePrefix = location.origin + "/e/" + code + "/i/";

  function follow(text) {
    var link = String(text || "").trim();
    if ((link.indexOf(prefix) !== 0 && link.indexOf(badgePrefix) !== 0) || link.length > 400) {
      status.textContent = EA.t("This is not a contact code of this event.");
      return false;
    }
    location.href = link;
    return true;
  }

  $("paste-form").addEventListener("submit", function (e) {
    e.preventDefault();
    follow($("paste").value);
  });

  if (!("BarcodeDetector" in window)) return;
  var detector;
  try { detector = new window.BarcodeDetector({ formats: ["qr_code"] }); } catch (e) { return; }

  function detect(source) {
    return detector.detect(source).then(function (codes) {
      for (var i = 0; i < codes.length; i++) { if (follow(codes[i].rawValue)) return true; }
      return false;
    });
  }

  $("scan-file-label").hidden = false;
  $("scan-file").hidden = false;
  $("scan-file").addEventListener("change", function (e) {
    var file = e.target.files && e.target.files[0];
    if (!file) return;
    createImageBitmap(file).then(detect).then(function (found) {
      if (!found) status.textContent = EA.t("No code found in this photo.");
    });
  });

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  var start = $("scan-start");
  start.hidden = false;
  start.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      var video = $("scan-video");
      video.srcObject = stream;
      video.hidden = false;
      start.hidden = true;
      video.play();
      var timer = setInterval(function () {
        if (video.readyState < 2) return;
        detect(video).then(function (found) {
          if (found) {
            clearInterval(timer);
            stream.getTracks().forEach(function (t) { t.stop(); });
          }
        });
      }, 300);
    }, function () {
      status.textContent = EA.t("The camera is not available; take a photo or paste the link.");
    });
  });
})(window.EventApp);
