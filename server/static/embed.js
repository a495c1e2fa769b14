// One line on a host page adds a floating button that opens the Q&A widget in an iframe:
//   <script src="https://HOST/embed.js" data-title="…" data-position="right" async></script>
// The widget's address comes from this script's own address, so HOST (and any sub-path) is
// written once. Button and panel live in a shadow root, so the host page's CSS cannot restyle
// them, and they touch nothing of the page but one element with a unique id.
(function () {
  "use strict";

  var HOST_ID = "govdoc-qa-embed-7f3c";
  var FONT = '"Noto Sans CJK SC", "Noto Sans CJK TC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif';

  function findOwnScript() {
    // document.currentScript is null only in unusual loaders; then take the last matching tag.
    var candidates = document.querySelectorAll('script[src$="embed.js"]');
    return candidates.length ? candidates[candidates.length - 1] : null;
  }

  var script = document.currentScript || findOwnScript();
  if (!script) return;
  var title = script.getAttribute("data-title") || "文件问答";
  var side = script.getAttribute("data-position") === "left" ? "left" : "right";
  var widgetUrl = new URL("widget", script.src);
  widgetUrl.searchParams.set("title", title);

  function css() {
    return [
      ":host { all: initial; }",
      ".launcher { position: fixed; bottom: 20px; " + side + ": 20px; z-index: 2147483000;",
      "  display: inline-flex; align-items: center; gap: 6px; padding: 10px 16px; margin: 0;",
      "  font: 600 15px/1.2 " + FONT + "; color: #fff; background: #1d4ed8;",
      "  border: 0; border-radius: 24px; box-shadow: 0 4px 14px rgba(0,0,0,.25); cursor: pointer; }",
      ".launcher:focus-visible, .close:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }",
      ".panel { position: fixed; bottom: 76px; " + side + ": 20px; z-index: 2147483000; box-sizing: border-box;",
      "  width: min(380px, calc(100vw - 24px)); height: min(600px, calc(100vh - 96px));",
      "  background: #fff; border: 1px solid #d0d7de; border-radius: 12px; overflow: hidden;",
      "  box-shadow: 0 8px 30px rgba(0,0,0,.3); }",
      ".panel[hidden] { display: none; }",
      ".panel iframe { display: block; width: 100%; height: 100%; border: 0; }",
      ".close { position: absolute; top: 8px; right: 8px; width: 28px; height: 28px; padding: 0;",
      "  font: 18px/28px " + FONT + "; color: #fff; background: rgba(0,0,0,.2); border: 0;",
      "  border-radius: 14px; cursor: pointer; }"
    ].join("\n");
  }

  function addStyle(root) {
    // A constructed stylesheet is not inline style, so a host page's strict CSP does not block it.
    if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(css());
      root.adoptedStyleSheets = [sheet];
    } else {
      var style = document.createElement("style");
      style.textContent = css();
      root.appendChild(style);
    }
  }

  // Icons are inline SVG, not emoji: a system without an emoji font would show empty boxes.
  function icon(pathData) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "18");
    svg.setAttribute("height", "18");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", pathData);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linejoin", "round");
    svg.appendChild(path);
    return svg;
  }

  function build() {
    if (document.getElementById(HOST_ID)) return; // the snippet was pasted twice
    var host = document.createElement("div");
    host.id = HOST_ID;
    var root = host.attachShadow({ mode: "open" });
    addStyle(root);

    var panel = document.createElement("div");
    panel.className = "panel";
    panel.id = "panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", title);
    var iframe = document.createElement("iframe");
    iframe.title = title;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.textContent = "×";
    close.setAttribute("aria-label", "关闭 Close");
    panel.appendChild(iframe);
    panel.appendChild(close);

    var launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "launcher";
    launcher.appendChild(icon("M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-4 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"));
    launcher.appendChild(document.createTextNode(title));
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "panel");
    launcher.setAttribute("aria-label", title);

    // Focus moves into the frame; the widget then puts it in its question box (on load, or on
    // the frame window's focus event when it is opened again).
    function focusWidget() {
      iframe.focus();
    }

    function open() {
      if (!iframe.src) iframe.src = widgetUrl.href; // loaded on first open only
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      focusWidget();
    }

    function shut() {
      if (panel.hidden) return;
      panel.hidden = true;
      launcher.setAttribute("aria-expanded", "false");
      launcher.focus();
    }

    launcher.addEventListener("click", function () { if (panel.hidden) open(); else shut(); });
    close.addEventListener("click", shut);
    iframe.addEventListener("load", function () { if (!panel.hidden) focusWidget(); });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") shut();
    });
    // Keys pressed inside the widget stay in its frame; it asks us to close on Escape instead.
    window.addEventListener("message", function (event) {
      if (event.origin === widgetUrl.origin && event.source === iframe.contentWindow &&
          event.data && event.data.type === "govdoc-qa:close") shut();
    });

    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(host);
  }

  if (document.body) build();
  else document.addEventListener("DOMContentLoaded", build);
})();
