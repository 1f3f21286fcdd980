/*
 * wismo tracking widget: put this on the store's own site.
 *
 *   <script src="https://TRACKING-HOST/static/tracking_pages/widget.js"
 *           data-wismo-tenant="STORE-SLUG" data-wismo-token="OPTIONAL-TOKEN"
 *           data-wismo-lang="OPTIONAL-LANG" async></script>
 *
 * Without a token it shows the lookup form (which opens the tracking page); with one, that
 * parcel's or order's status card. On a custom tracking domain leave data-wismo-tenant out.
 * The frame is served by the tracking host, whose policy lets only the store's own origins
 * (its custom domain and the "allowed_origins" of its branding) embed it.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  var origin = new URL(script.src, window.location.href).origin;
  var tenant = script.getAttribute("data-wismo-tenant") || "";
  var token = script.getAttribute("data-wismo-token") || "";
  var lang = script.getAttribute("data-wismo-lang") || "";
  var safe = /^[A-Za-z0-9_-]*$/;
  if (!safe.test(tenant) || !safe.test(token) || !/^[a-z]{0,2}$/.test(lang)) {
    return;
  }
  var path = (tenant ? "/t/" + tenant : "") + (token ? "/" + token : "") + "/embed/";
  var frame = document.createElement("iframe");
  frame.src = origin + path + (lang ? "?lang=" + lang : "");
  frame.title = script.getAttribute("data-wismo-title") || "Order tracking";
  frame.className = "wismo-tracking";
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.minHeight = "200px";
  var holder = document.getElementById(script.getAttribute("data-wismo-target") || "");
  if (holder) {
    holder.appendChild(frame);
  } else {
    script.parentNode.insertBefore(frame, script.nextSibling);
  }
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) {
      return;
    }
    var data = event.data;
    if (data && data.type === "wismo:height" && typeof data.height === "number") {
      frame.style.height = Math.min(Math.max(Math.round(data.height), 120), 5000) + "px";
    }
  });
})();
