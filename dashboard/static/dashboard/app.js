// wismo dashboard: small progressive enhancement; every page works without it.
(function () {
  "use strict";
  function onReady(fn) { if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn); }
  function enhance(root) {
    // Selects that submit their form on change (tenant switcher, quick filters).
    root.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      if (el.dataset.bound) return; el.dataset.bound = "1";
      el.addEventListener("change", function () { el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit(); });
    });
    // Copy buttons: data-copy-target="#id" copies that element's text.
    root.querySelectorAll("[data-copy-target]").forEach(function (btn) {
      if (btn.dataset.bound) return; btn.dataset.bound = "1";
      btn.addEventListener("click", function () {
        var target = document.querySelector(btn.getAttribute("data-copy-target"));
        if (!target) return;
        var text = target.value !== undefined && target.tagName === "TEXTAREA" ? target.value : target.innerText;
        var done = function () { var old = btn.textContent; btn.textContent = btn.dataset.copiedLabel || "Copied"; btn.setAttribute("data-copied", "1"); setTimeout(function () { btn.textContent = old; }, 1500); btn.dispatchEvent(new CustomEvent("wismo:copied", { bubbles: true })); };
        if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); }); }
        else { fallback(text); done(); }
      });
    });
    // Confirmations for destructive buttons: data-confirm="Are you sure?".
    root.querySelectorAll("[data-confirm]").forEach(function (el) {
      if (el.dataset.bound) return; el.dataset.bound = "1";
      el.addEventListener("click", function (ev) { if (!window.confirm(el.getAttribute("data-confirm"))) ev.preventDefault(); });
    });
    // "Select all" checkboxes: data-select-all="name" toggles every checkbox with that name.
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      if (box.dataset.bound) return; box.dataset.bound = "1";
      box.addEventListener("change", function () {
        document.querySelectorAll('input[type=checkbox][name="' + box.getAttribute("data-select-all") + '"]').forEach(function (c) { c.checked = box.checked; });
      });
    });
  }
  function fallback(text) {
    var area = document.createElement("textarea"); area.value = text; area.setAttribute("readonly", "");
    area.className = "visually-hidden"; document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
  }
  onReady(function () { enhance(document); });
  document.addEventListener("htmx:afterSwap", function (ev) { enhance(ev.target); });
  window.wismoEnhance = enhance;
})();
