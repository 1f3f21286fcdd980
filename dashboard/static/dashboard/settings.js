// wismo dashboard settings: live previews. A form with data-live-preview re-submits itself
// through its [data-preview-button] (which posts into the sandboxed preview frame) shortly after
// any change. Without this script the "Preview" button does the same on click.
(function () {
  "use strict";
  function bind(form) {
    var button = form.querySelector("[data-preview-button]");
    if (!button || form.dataset.liveBound) return;
    form.dataset.liveBound = "1";
    var timer = null;
    function refresh() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (form.requestSubmit) form.requestSubmit(button); else button.click();
        form.dispatchEvent(new CustomEvent("wismo:preview", { bubbles: true }));
      }, 350);
    }
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
  }
  function start() { document.querySelectorAll("form[data-live-preview]").forEach(bind); }
  if (document.readyState !== "loading") start(); else document.addEventListener("DOMContentLoaded", start);
})();
