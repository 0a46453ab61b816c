// carepath workbench: the few behaviours HTML alone lacks. No inline script anywhere (CSP).
(function () {
  "use strict";
  var body = document.body;

  // HIPAA automatic log-off: an unattended page leaves itself when the session's idle
  // time is up. /app/idle checks the session without counting as activity, and sends the
  // browser back here (still signed in from another tab) or to sign-in.
  var idleSeconds = Number(body.dataset.idleSeconds || 0);
  if (idleSeconds > 0) {
    var timer = null;
    var arm = function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(function () {
        window.location.assign("/app/idle?next=" + encodeURIComponent(window.location.pathname));
      }, idleSeconds * 1000 + 1500);
    };
    arm();
    body.addEventListener("htmx:afterRequest", function (event) {
      var headers = (event.detail && event.detail.requestConfig && event.detail.requestConfig.headers) || {};
      if (headers["X-Carepath-Background"] !== "1") { arm(); }
    });
  }

  // A double click must not send a form twice (the server would answer it once anyway).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.sent === "1") { event.preventDefault(); return; }
    form.dataset.sent = "1";
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
      });
    }, 0);
  });

  // After a refused submission, move focus to the summary so keyboard and screen-reader
  // users hear what to fix.
  var summary = document.getElementById("error-summary") || document.getElementById("refused");
  if (summary) { summary.setAttribute("tabindex", "-1"); summary.focus(); }
})();
