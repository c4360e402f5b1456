// Download Center behaviour that htmx attributes cannot express: tab state, the live
// indicator, resetting the add form, and showing refusals in words. No inline scripts.
(function () {
  "use strict";
  var toastTimer;

  function toast(message, bad) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message;
    el.className = bad ? "toast bad" : "toast";
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, bad ? 8000 : 3000);
  }

  function live(on, text) {
    var el = document.getElementById("live-state");
    if (!el) return;
    el.textContent = text;
    el.className = on ? "live on" : "live off";
  }

  document.addEventListener("click", function (event) {
    var tab = event.target.closest && event.target.closest("[role=tab]");
    if (!tab) return;
    document.querySelectorAll("[role=tab]").forEach(function (t) {
      t.setAttribute("aria-selected", t === tab ? "true" : "false");
    });
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (event.detail.successful && elt && elt.id === "add-form") {
      elt.reset();
      toast("Added to the queue");
      var first = document.getElementById("add-artist");
      if (first) first.focus();
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var message = "The server refused: " + xhr.status;
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error) message = body.error;
    } catch (e) { /* not JSON */ }
    toast(message, true);
  });

  document.addEventListener("htmx:sendError", function () {
    toast("Tributary cannot be reached. Retrying…", true);
  });

  document.addEventListener("htmx:sseOpen", function () { live(true, "Live"); });
  document.addEventListener("htmx:sseError", function () { live(false, "Reconnecting…"); });
})();
