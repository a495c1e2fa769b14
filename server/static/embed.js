// One line on a host page adds a floating button that opens the Q&A widget in an iframe:
//   <script src="https://HOST/embed.js" data-title="…" data-position="right" async></script>
// The widget's address comes from this script's own address, so HOST (and any sub-path) is
// written once. Button and panel live in a shadow root, so the host page's CSS cannot restyle
// them, and they touch nothing of the page but one element with a unique id.
// Before the widget is first loaded, this script asks the server whether this site may frame it
// (widget/allowed): a site not on the allow-list (QA_ALLOWED_ORIGINS) gets a message in the panel
// saying so, instead of the browser's broken-frame page, which would also keep Escape from closing
// the panel. Escape and × close the panel in every state; inside the widget's frame, Escape is
// passed on by the widget (postMessage). The panel follows the system's dark mode.
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
  var checkUrl = new URL("widget/allowed", script.src);
  var chatUrl = new URL("./", script.src); // the chat page, which any site may link to
  var MESSAGES = {
    checking: "正在连接… Connecting…",
    unreachable: "暂时无法连接问答服务，请稍后再试。The Q&A service cannot be reached; please try again later.",
    blocked: function (origin) {
      return "本网站（" + origin + "）未获准嵌入问答助手：请服务器管理员将它加入 QA_ALLOWED_ORIGINS。" +
        "This site (" + origin + ") may not embed the assistant: its administrator must add it to QA_ALLOWED_ORIGINS.";
    },
    openChat: "在新标签页打开问答 · Open the Q&A in a new tab"
  };

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
      "  background: #fff; color: #1f2328; border: 1px solid #d0d7de; border-radius: 12px; overflow: hidden;",
      "  box-shadow: 0 8px 30px rgba(0,0,0,.3); }",
      ".panel[hidden], .panel iframe[hidden], .message[hidden] { display: none; }",
      ".panel iframe { display: block; width: 100%; height: 100%; border: 0; }",
      /* Opaque, so it reads the same over the widget's blue header and over a message: 10:1. */
      ".close { position: absolute; top: 8px; right: 8px; width: 28px; height: 28px; padding: 0;",
      "  font: 18px/28px " + FONT + "; color: #fff; background: #1e3a8a; border: 0;",
      "  border-radius: 14px; cursor: pointer; }",
      ".message { box-sizing: border-box; height: 100%; margin: 0; padding: 48px 20px 20px;",
      "  font: 15px/1.7 " + FONT + "; overflow-wrap: anywhere; }",
      ".message p { margin: 0 0 12px; }",
      ".message a { color: #1d4ed8; text-decoration: underline; }",
      ".message a:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }",
      "@media (prefers-color-scheme: dark) {",
      "  .panel { background: #0d1117; color: #e6edf3; border-color: #30363d; }",  /* 16:1 */
      "  .message a { color: #93c5fd; }",  /* 10:1 on #0d1117 */
      "}"
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
    iframe.hidden = true;
    iframe.allow = "clipboard-write"; // the widget's copy buttons
    var message = document.createElement("div");
    message.className = "message";
    message.tabIndex = -1; // focused when shown, so that a screen reader reads it and Escape works
    message.hidden = true;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.textContent = "×";
    close.setAttribute("aria-label", "关闭 Close");
    panel.appendChild(iframe);
    panel.appendChild(message);
    panel.appendChild(close);

    var launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "launcher";
    launcher.appendChild(icon("M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-4 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"));
    launcher.appendChild(document.createTextNode(title));
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "panel");
    launcher.setAttribute("aria-label", title);

    // "unchecked" until the server has said whether this site may frame the widget, then
    // "checking", "allowed" (the frame is loaded, on first open only) or "blocked".
    var state = "unchecked";

    // Focus moves into the frame; the widget then puts it in its question box (on load, or on
    // the frame window's focus event when it is opened again). A message takes the focus itself.
    function focusWidget() {
      if (state === "allowed") iframe.focus();
      else if (!message.hidden) message.focus();
    }

    function say(text, withLink) {
      message.textContent = "";
      var line = document.createElement("p");
      line.setAttribute("role", "alert");
      line.textContent = text;
      message.appendChild(line);
      if (withLink) {
        var link = document.createElement("a");
        link.href = chatUrl.href;
        link.target = "_blank";
        link.rel = "noopener";
        link.textContent = MESSAGES.openChat;
        var p = document.createElement("p");
        p.appendChild(link);
        message.appendChild(p);
      }
      message.hidden = false;
      iframe.hidden = true;
      if (!panel.hidden) message.focus();
    }

    function loadWidget() {
      state = "allowed";
      message.hidden = true;
      iframe.hidden = false;
      iframe.src = widgetUrl.href;
      if (!panel.hidden) focusWidget();
    }

    // No cookies and no custom headers: a simple cross-origin GET, which the server answers for any origin.
    function checkThenLoad() {
      state = "checking";
      say(MESSAGES.checking, false);
      fetch(checkUrl.href, { credentials: "omit", cache: "no-store" }).then(function (response) {
        if (!response.ok) return loadWidget(); // a server without this check: try the frame itself
        return response.json().then(function (answer) {
          if (answer.allowed) {
            loadWidget();
          } else {
            state = "blocked";
            say(MESSAGES.blocked(answer.origin || location.origin), true);
          }
        });
      }).catch(function () {
        state = "unchecked"; // asked again on the next open
        say(MESSAGES.unreachable, false);
      });
    }

    function open() {
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      if (state === "unchecked") checkThenLoad();
      else focusWidget();
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
