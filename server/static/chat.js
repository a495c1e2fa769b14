// The chat page's own script, run once by Gradio when the page loads (mount_gradio_app(js=...)).
// - The copy button under each answer (server.render.copy_button_html) copies the plain text kept
//   in its `value`: the answer with its [n] markers, then the numbered sources. Gradio's own copy
//   button is off: it copies a message's HTML.
// - Gradio sets each message's aria-label to "<role>'s message: " followed by the message's
//   content, which is HTML here; that HTML is replaced with the message's plain text.
(function () {
  "use strict";

  var COPIED = { "zh-Hans": "已复制", "zh-Hant": "已複製", en: "Copied" };
  var FAILED = { "zh-Hans": "复制失败", "zh-Hant": "複製失敗", en: "Copy failed" };

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on a host other than localhost has no clipboard API: the older way still works.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var copied = document.execCommand("copy");
      area.remove();
      if (copied) resolve();
      else reject(new Error("copy refused"));
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("button.qa-copy") : null;
    if (!button) return;
    var lang = button.getAttribute("lang") || "zh-Hans";
    var status = button.parentNode.querySelector(".qa-copy-status");
    function report(labels) {
      button.focus();
      if (!status) return;
      status.textContent = labels[lang] || labels.en;
      clearTimeout(status._timer);
      status._timer = setTimeout(function () { status.textContent = ""; }, 2500);
    }
    copyText(button.value).then(function () { report(COPIED); }, function () { report(FAILED); });
  });

  var labelled = new WeakMap(); // message element -> the aria-label we set on it

  function plainLabels() {
    document.querySelectorAll("#chat [aria-label]").forEach(function (node) {
      var label = node.getAttribute("aria-label");
      var markup = label.indexOf("<");
      if (markup < 0 || labelled.get(node) === label) return;
      var copy = node.querySelector("button.qa-copy");
      var text = copy ? copy.value : node.textContent.replace(/\s+/g, " ").trim();
      var plain = label.slice(0, markup) + text;
      labelled.set(node, plain);
      node.setAttribute("aria-label", plain);
    });
  }

  var pending = false;
  new MutationObserver(function () {
    if (pending) return;
    pending = true;
    setTimeout(function () {
      pending = false;
      plainLabels();
    }, 30);
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"] });
  plainLabels();
})();
