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

  // The queue's rows, live from the delta stream: a row that is shown and keeps its status is
  // updated in place; rows that come, go or change status make the rows be fetched again, at
  // most once a second, and once more after a burst so the last change is never dropped.
  var stale = false;
  var refetchTimer = null;

  function refetchRows() {
    refetchTimer = null;
    if (!stale) return;
    stale = false;
    var rows = document.getElementById("rows");
    if (rows && window.htmx) window.htmx.trigger(rows, "rows-stale");
    refetchTimer = setTimeout(refetchRows, 1000);
  }

  function markStale() {
    stale = true;
    if (!refetchTimer) refetchTimer = setTimeout(refetchRows, 0);
  }

  function setText(row, selector, text) {
    var el = row.querySelector(selector);
    if (el && el.textContent !== text) el.textContent = text;
  }

  // Returns false when the row is not shown or its status changed (its layout changes).
  function updateRow(d) {
    var row = document.getElementById("dl-" + d.id);
    if (!row) return false;
    if (row.getAttribute("data-status") !== d.status) return false;
    var progress = row.querySelector("progress");
    if (progress) {
      progress.value = d.progress.percent;
      progress.textContent = d.progress.percent + "%";
    }
    setText(row, ".pct", d.progress.percent + "%");
    setText(row, ".speed", d.progress.speed_formatted);
    setText(row, ".eta", "ETA " + d.progress.eta_formatted);
    setText(row, ".size", d.progress.size_formatted);
    var note = row.querySelector(".note");
    var message = d.status !== "completed" ? d.status_message : null;
    if (message && note) {
      if (note.textContent !== message) note.textContent = message;
    } else if (message || note) {
      return false;
    }
    return true;
  }

  document.addEventListener("sse:delta", function (event) {
    if (!event.target || event.target.id !== "live-rows" || !document.getElementById("rows")) return;
    var delta;
    try { delta = JSON.parse(event.detail.data); } catch (e) { return; }
    var refetch = false;
    var status = document.getElementById("filter-status");
    var provider = document.getElementById("filter-provider");
    function shownHere(d) {
      return (!status || !status.value || status.value === d.status) &&
        (!provider || !provider.value || provider.value === d.provider);
    }
    (delta.changed || []).forEach(function (d) {
      var row = document.getElementById("dl-" + d.id);
      if (!updateRow(d) && (row || shownHere(d))) refetch = true;
    });
    (delta.removed || []).forEach(function (id) {
      var row = document.getElementById("dl-" + id);
      if (row) { row.remove(); refetch = true; }
    });
    if (refetch) markStale();
  });

  document.addEventListener("sse:snapshot", function (event) {
    if (event.target && event.target.id === "live-rows") markStale();
  });

  document.addEventListener("htmx:sseOpen", function () { live(true, "Live"); });
  document.addEventListener("htmx:sseError", function () { live(false, "Reconnecting…"); });
})();
