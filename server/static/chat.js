// The chat page's own script, run once by Gradio when the page loads (mount_gradio_app(js=...)).
// - The copy button under each answer (server.render.copy_button_html) copies the plain text kept
//   in its `value`: the answer with its [n] markers, then the numbered sources. Gradio's own copy
//   button is off: it copies a message's HTML. The copy-link button next to it copies the address
//   that asks the question again (`?q=`, resolved against the page).
// - Gradio sets each message's aria-label to "<role>'s message: " followed by the message's
//   content, which is HTML here; that HTML is replaced with the message's plain text.
// - Accessibility Gradio has no option for: the page's language (Gradio sets <html lang> to the
//   browser's locale; the page is Chinese with English alongside), a name for the question box
//   (Gradio's <label> also holds the send button, so the box was read as "Textbox 发送 Send"), and
//   Chinese with English on the chatbot's Like/Dislike/Clear buttons (Gradio labels them in the
//   browser's language only, and "Liked"/"Disliked", "Scroll down", "chatbot conversation" and
//   "user's/bot's message" in English always).
// - When a new question appears (asked, or restored on load) the chat scrolls to its start and
//   keeps it there while its answer comes in, so the answer is seen from its start; Gradio's
//   autoscroll (off) went to the end of the sources.
// - While the server is still loading its index and model (/healthz 503 "starting"), a banner
//   under the header says so and goes once it is ready; if the load failed (/healthz 500), the
//   banner shows the server's message. The page itself is served from the first second.
// - The stop button (停止 · Stop, app.py) shows only while the last answer is still being
//   produced (the <html> element carries `qa-answering` meanwhile); once it is clicked, the focus
//   goes back to the question box, where whatever was typed is still there.
// - On a phone the chat box takes the height the screen has left under the header, with the
//   question box right below it (Gradio's fixed 400 px left half the screen empty).
(function () {
  "use strict";

  var PAGE_LANG = "zh-Hans";
  var QUESTION_LABEL = "问题 · Question";
  var COPIED = { "zh-Hans": "已复制", "zh-Hant": "已複製", en: "Copied" };
  var LINK_COPIED = { "zh-Hans": "已复制链接", "zh-Hant": "已複製連結", en: "Link copied" };
  var FAILED = { "zh-Hans": "复制失败", "zh-Hant": "複製失敗", en: "Copy failed" };
  // Gradio's labels (English, zh-CN, zh-TW) -> Chinese and English. Other locales keep Gradio's
  // own translation, which is in the reader's language already.
  var LIKE = "赞 · Like", DISLIKE = "踩 · Dislike", CLEAR = "清空对话 · Clear";
  var BUTTON_LABELS = {
    Like: LIKE, "赞": LIKE, "讚": LIKE,
    Dislike: DISLIKE, "踩": DISLIKE, "不讚": DISLIKE,
    Liked: "已赞 · Liked", Disliked: "已踩 · Disliked",
    Clear: CLEAR, "清空对话": CLEAR, "清空對話": CLEAR,
    "Scroll down": "滚动到最新 · Scroll down",  // these two are English in every locale
    "chatbot conversation": "对话 · Conversation"
  };
  var MESSAGE_PREFIXES = { "user's message: ": "问题 · Question: ", "bot's message: ": "回答 · Answer: " };
  var STARTING = "正在启动…文件和模型正在加载，几秒后即可提问。" +
    "Starting… the documents are loading; questions can be asked in a few seconds.";
  var START_FAILED = "服务无法启动 · The server could not start: ";
  var HEALTH_POLL_MS = 1000;

  function keepPageLanguage() {
    var root = document.documentElement;
    if (root.getAttribute("lang") !== PAGE_LANG) root.setAttribute("lang", PAGE_LANG);
  }
  keepPageLanguage();
  new MutationObserver(keepPageLanguage).observe(document.documentElement, {
    attributes: true, attributeFilter: ["lang"]
  });

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
    var button = event.target instanceof Element ? event.target.closest("button.qa-copy, button.qa-copy-link") : null;
    if (!button) return;
    var isLink = button.classList.contains("qa-copy-link");
    var lang = button.getAttribute("lang") || "zh-Hans";
    var status = button.parentNode.querySelector(".qa-copy-status");
    function report(labels) {
      button.focus();
      if (!status) return;
      status.textContent = labels[lang] || labels.en;
      clearTimeout(status._timer);
      status._timer = setTimeout(function () { status.textContent = ""; }, 2500);
    }
    var text = isLink ? new URL(button.value, document.baseURI).href : button.value;
    copyText(text).then(function () { report(isLink ? LINK_COPIED : COPIED); }, function () { report(FAILED); });
  });

  var labelled = new WeakMap(); // message element -> the aria-label we set on it

  function plainLabels() {
    document.querySelectorAll("#chat [aria-label]").forEach(function (node) {
      var label = node.getAttribute("aria-label");
      var markup = label.indexOf("<");
      if (markup < 0 || labelled.get(node) === label) return;
      var copy = node.querySelector("button.qa-copy");
      var text = copy ? copy.value : node.textContent.replace(/\s+/g, " ").trim();
      var prefix = label.slice(0, markup);
      var plain = (MESSAGE_PREFIXES[prefix] || prefix) + text;
      labelled.set(node, plain);
      node.setAttribute("aria-label", plain);
    });
  }

  function bilingualButtons() {
    document.querySelectorAll("#chat [aria-label]").forEach(function (node) {
      var label = BUTTON_LABELS[node.getAttribute("aria-label")];
      if (!label) return;
      node.setAttribute("aria-label", label);
      if (node.hasAttribute("title")) node.setAttribute("title", label);
    });
  }

  function nameQuestionBox() {
    var box = document.querySelector("#question textarea");
    if (box && box.getAttribute("aria-label") !== QUESTION_LABEL) box.setAttribute("aria-label", QUESTION_LABEL);
  }

  function scrollParent(node) {
    for (var el = node.parentElement; el; el = el.parentElement) {
      var overflow = getComputedStyle(el).overflowY;
      if ((overflow === "auto" || overflow === "scroll") && el.scrollHeight > el.clientHeight) return el;
    }
    return null;
  }

  // From the moment a question appears until its answer is finished, the view keeps that question
  // at the top of the chat (as far as the content below it allows), so the answer shows from its
  // start as it grows. Scrolling by hand meanwhile stops this.
  var questionsSeen = 0;
  var following = false;
  function showNewQuestion() {
    var questions = document.querySelectorAll("#chat .qa-question");
    if (questions.length > questionsSeen) following = true;
    questionsSeen = questions.length;
    if (!following || !questions.length) return;
    var question = questions[questions.length - 1];
    var bubble = question.closest(".message-row") || question;
    var box = scrollParent(bubble);
    if (box) box.scrollTop += bubble.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
    var replies = document.querySelectorAll("#chat .qa-actions, #chat .qa-error");
    var last = replies.length ? replies[replies.length - 1] : null;
    if (last && question.compareDocumentPosition(last) & Node.DOCUMENT_POSITION_FOLLOWING) following = false;
  }
  ["wheel", "touchmove"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (event.target instanceof Element && event.target.closest("#chat")) following = false;
    }, { passive: true });
  });

  // The server's state, from /healthz (relative: the page may be served under a sub-path).
  function statusBanner() {
    var banner = document.getElementById("qa-status");
    if (banner) return banner;
    banner = document.createElement("div");
    banner.id = "qa-status";
    banner.setAttribute("role", "status");
    var header = document.getElementById("qa-header");
    if (header) header.appendChild(banner);
    else document.body.insertBefore(banner, document.body.firstChild);
    return banner;
  }

  function watchHealth() {
    fetch(new URL("healthz", document.baseURI), { cache: "no-store" }).then(function (response) {
      if (response.ok) {
        var banner = document.getElementById("qa-status");
        if (banner) banner.remove();
        return;
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        var banner = statusBanner();
        if (response.status === 503 && body.status === "starting") {
          banner.className = "qa-starting";
          banner.textContent = STARTING;
          setTimeout(watchHealth, HEALTH_POLL_MS);
        } else if (body.status === "failed") {
          banner.className = "qa-failed";
          banner.textContent = START_FAILED + (body.error || "");
        }
      });
    }, function () {
      setTimeout(watchHealth, HEALTH_POLL_MS * 3); // the server is not reachable: try again later
    });
  }
  watchHealth();

  // Whether the last reply is still being produced: a "searching…", "starting…" or "busy" bubble,
  // or an answer streaming in that has no actions (copy) yet, no error and no stopped mark.
  function markAnswering() {
    var bots = document.querySelectorAll('#chat [data-testid="bot"]');
    var last = bots.length ? bots[bots.length - 1] : null;
    var answering = !!last && !!last.querySelector(".qa-working, .qa-answer") &&
      !last.querySelector(".qa-actions, .qa-error, .qa-stopped");
    document.documentElement.classList.toggle("qa-answering", answering);
  }

  document.addEventListener("click", function (event) {
    if (!(event.target instanceof Element) || !event.target.closest("#stop-answer")) return;
    setTimeout(function () {
      var box = document.querySelector("#question textarea");
      if (box) box.focus();
    }, 0);
  });

  var PHONE_MAX_WIDTH = 640;
  function fitChatToPhone() {
    var chat = document.getElementById("chat");
    var question = document.getElementById("question");
    if (!chat || !question) return;
    var root = document.documentElement;
    if (innerWidth > PHONE_MAX_WIDTH) {
      root.style.removeProperty("--qa-phone-chat-height");
      return;
    }
    var chatBox = chat.getBoundingClientRect();
    var below = question.getBoundingClientRect().bottom - chatBox.bottom; // the gap and the question box
    var height = Math.floor(innerHeight - (chatBox.top + scrollY) - below - 12);
    var wanted = Math.max(300, height) + "px";
    if (root.style.getPropertyValue("--qa-phone-chat-height") !== wanted) root.style.setProperty("--qa-phone-chat-height", wanted);
  }
  addEventListener("resize", fitChatToPhone);

  function tidy() {
    plainLabels();
    bilingualButtons();
    nameQuestionBox();
    markAnswering();
    fitChatToPhone();
    showNewQuestion();
  }

  var pending = false;
  new MutationObserver(function () {
    if (pending) return;
    pending = true;
    setTimeout(function () {
      pending = false;
      tidy();
    }, 30);
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"] });
  tidy();
})();
