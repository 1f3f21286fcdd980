/* wismo tracking pages: nothing the page needs to work, only the widget frame's height. */
(function () {
  "use strict";
  var body = document.body;
  if (!body || window.parent === window || !body.classList.contains("embed")) {
    return;
  }
  // Framed by the widget: tell the embedding page our height so that it sizes the frame.
  var last = 0;
  function send() {
    var height = document.documentElement.scrollHeight;
    if (height !== last) {
      last = height;
      window.parent.postMessage({ type: "wismo:height", height: height }, "*");
    }
  }
  window.addEventListener("load", send);
  if (window.ResizeObserver) {
    new ResizeObserver(send).observe(body);
  }
  send();
})();
