// The widget: a compact chat that streams answers from api/ask/stream (server-sent events over a
// POST, read with fetch + ReadableStream) and shows the sources of each answer.
// Text from the user and from documents is only ever placed with textContent or text nodes,
// never parsed as HTML. URLs are relative so the widget works under any sub-path.
// A refusal before the stream starts (503 with Retry-After: the server is busy, or still starting)
// is said in the answer's bubble ("busy, trying again"), and the question is asked once more after
// the seconds the server asked for.
// While an answer is produced, a stop button aborts its request; the question stays in the
// conversation marked as stopped. Each answer has a copy button (plain text, the chat page's
// format: the answer with its [n] markers, then the numbered sources). The conversation is kept in
// localStorage (per browser and host site) and comes back on reload; the clear button (清空) empties
// it there too. Escape, pressed anywhere in the widget, asks the host page to close the panel.
(function () {
  "use strict";

  var ASK_URL = "api/ask/stream";
  var FEEDBACK_URL = "api/feedback";
  var DOC_URL = "doc/"; // the source viewer: doc/{id}#s={start}-{end} marks the cited sentence
  var MAX_HISTORY = 20; // the API's limit on earlier messages
  var MAX_TURN_CHARS = 4000; // the API's limit on one earlier message
  var STORAGE_KEY = "govdoc-qa-widget";
  var STORAGE_VERSION = 1;
  var MAX_SAVED_TURNS = 20;
  // colon: what follows the heading of the copied sources (server/render.py answer_plain_text).
  var LABELS = {
    "zh-Hans": { sources: "来源", related: "相关段落（未找到答案）", rewritten: "理解为：", thanks: "谢谢反馈",
                 colon: "：", copy: "复制", copied: "已复制", copyFailed: "复制失败" },
    "zh-Hant": { sources: "來源", related: "相關段落（未找到答案）", rewritten: "理解為：", thanks: "謝謝反饋",
                 colon: "：", copy: "複製", copied: "已複製", copyFailed: "複製失敗" },
    en: { sources: "Sources", related: "Related passages (no answer found)", rewritten: "Understood as: ", thanks: "Thank you",
          colon: ":", copy: "Copy", copied: "Copied", copyFailed: "Copy failed" }
  };
  var STOPPED = "已停止 · Stopped";
  var FAILED = "出错了，请稍后再试。Something went wrong; please try again.";
  var BUSY = "正在排队，稍后重试… Busy, trying again…";
  var STARTING = "正在启动，稍后重试… Starting, trying again…";
  var MAX_RETRY_WAIT_S = 30; // a longer Retry-After is not waited for: the refusal is shown instead

  var history = [];
  var turns = []; // what is saved: {question, answer (the API's JSON) or null, stopped, partial}
  var busy = false;
  var HINT = "";
  var controller = null; // aborts the answer in progress (the stop button)
  var form, input, sendButton, stopButton, messages;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function scrollToEnd() {
    messages.scrollTop = messages.scrollHeight;
  }

  // --- server-sent events -------------------------------------------------------------------

  // Splits complete events off the front of `buffer`; returns them and the unfinished rest.
  function takeEvents(buffer) {
    var blocks = buffer.replace(/\r\n/g, "\n").split("\n\n");
    var rest = blocks.pop();
    var events = [];
    blocks.forEach(function (block) {
      var name = "message";
      var data = [];
      block.split("\n").forEach(function (line) {
        if (!line || line.charAt(0) === ":") return; // blank or a keep-alive comment
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      });
      if (data.length) events.push({ name: name, data: JSON.parse(data.join("\n")) });
    });
    return { events: events, rest: rest };
  }

  async function streamAnswer(question, onDelta, signal) {
    var response = await fetch(ASK_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ question: question, history: history }),
      signal: signal
    });
    if (!response.ok) {
      var body = await response.json().catch(function () { return {}; });
      var refused = new Error(body.error || FAILED);
      var retryAfter = Number(response.headers.get("Retry-After"));
      if (response.status === 503 && retryAfter > 0 && retryAfter <= MAX_RETRY_WAIT_S) {
        refused.retryAfter = retryAfter;
        refused.starting = /starting/.test(body.error || "");
      }
      throw refused;
    }
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var parsed = takeEvents(buffer);
      buffer = parsed.rest;
      for (var i = 0; i < parsed.events.length; i++) {
        var event = parsed.events[i];
        if (event.name === "delta") onDelta(event.data.text);
        else if (event.name === "answer") return event.data;
        else if (event.name === "error") throw new Error(event.data.error || FAILED);
      }
    }
    throw new Error(FAILED);
  }

  // --- rendering ----------------------------------------------------------------------------

  // [n] as a link to the cited sentence in its document (a new tab: the widget stays as it is),
  // with the quote as its title, shown on hover (and by widget.css on keyboard focus).
  function citeLink(citation) {
    var link = el("a", "cite", "[" + citation.n + "]");
    link.href = DOC_URL + encodeURIComponent(citation.doc) + "#s=" + citation.start + "-" + citation.end;
    link.target = "_blank";
    link.rel = "noopener";
    link.title = citation.quote;
    return link;
  }

  function answerParagraph(text, citations) {
    var p = el("p", "answer");
    var byNumber = {};
    (citations || []).forEach(function (c) { byNumber[c.n] = c; });
    var marker = /\[(\d{1,3})\]/g;
    var last = 0;
    var match;
    while ((match = marker.exec(text)) !== null) {
      p.appendChild(document.createTextNode(text.slice(last, match.index)));
      var citation = byNumber[Number(match[1])];
      p.appendChild(citation ? citeLink(citation) : el("span", "cite", match[0]));
      last = marker.lastIndex;
    }
    p.appendChild(document.createTextNode(text.slice(last)));
    return p;
  }

  // The passage with the cited sentence in <mark>: by offsets, else by finding the quote.
  function highlightedPassage(citation) {
    var block = el("blockquote", "passage");
    var text = citation.text;
    var lo = citation.start - citation.passage_start;
    var hi = citation.end - citation.passage_start;
    var offsetsFit = lo >= 0 && lo < hi && hi <= text.length && (!citation.quote || text.slice(lo, hi) === citation.quote);
    if (!offsetsFit) {
      lo = citation.quote ? text.indexOf(citation.quote) : -1;
      hi = lo + (citation.quote || "").length;
    }
    if (lo < 0) {
      block.textContent = text;
      return block;
    }
    block.appendChild(document.createTextNode(text.slice(0, lo)));
    block.appendChild(el("mark", null, text.slice(lo, hi)));
    block.appendChild(document.createTextNode(text.slice(hi)));
    return block;
  }

  function sectionPath(title, section) {
    var parts = section.split(" › ");
    if (parts[0] === title) parts.shift();
    return parts.join(" › ");
  }

  function sourceItem(citation, title, date, section, passageBlock) {
    var item = el("li", "source");
    var heading = el("div", "source-title");
    if (citation) {
      heading.appendChild(citeLink(citation));
      heading.appendChild(document.createTextNode(" "));
    }
    heading.appendChild(document.createTextNode(title));
    if (date) heading.appendChild(el("span", "source-date", " · " + date));
    item.appendChild(heading);
    var path = sectionPath(title, section);
    if (path) item.appendChild(el("div", "source-section", path));
    item.appendChild(passageBlock);
    return item;
  }

  // 👍 drawn as SVG (👎 is the same icon turned over by CSS): emoji need an emoji font, which
  // not every system has.
  function thumbIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    [["rect", { x: "2", y: "10", width: "4", height: "11" }],
     ["path", { d: "M8 10l4-7c1.5 0 2.5 1 2 3l-1 4h6c1.5 0 2.5 1.5 2 3l-2 7c-.3.8-1 1-2 1H8z" }]
    ].forEach(function (shape) {
      var node = document.createElementNS(ns, shape[0]);
      Object.keys(shape[1]).forEach(function (name) { node.setAttribute(name, shape[1][name]); });
      svg.appendChild(node);
    });
    return svg;
  }

  // A passage box starts at the top of the passage, its first line whole. When the highlighted
  // sentence ends below what the box shows, the box grows to show it (up to MAX_PASSAGE_PX);
  // past that, the box scrolls by whole lines to the sentence's first line. A box that still
  // scrolls can be reached (and so scrolled) by the keyboard.
  var MAX_PASSAGE_PX = 320;
  function showMarks(bubble) {
    bubble.querySelectorAll(".passage").forEach(function (passage) {
      passage.scrollTop = 0;
      var mark = passage.querySelector("mark");
      if (mark) {
        var bottom = mark.offsetTop + mark.offsetHeight + 8;
        if (bottom > passage.clientHeight) passage.style.maxHeight = Math.min(bottom, MAX_PASSAGE_PX) + "px";
        if (bottom > passage.clientHeight) {
          var line = parseFloat(getComputedStyle(passage).lineHeight) || 20;
          var pad = parseFloat(getComputedStyle(passage).paddingTop) || 0;
          passage.scrollTop = pad + Math.floor((mark.offsetTop - pad) / line) * line;
        }
      }
      if (passage.scrollHeight > passage.clientHeight) passage.tabIndex = 0;
    });
  }

  // --- copy ---------------------------------------------------------------------------------

  function withDate(title, date) {
    return date ? title + " · " + date : title;
  }

  // The same text as the chat page's copy button (server/render.py answer_plain_text).
  function plainText(answer) {
    var labels = LABELS[answer.lang] || LABELS["zh-Hans"];
    var parts = answer.notice ? [answer.notice] : [];
    parts.push(answer.answer);
    var lines;
    if (answer.citations.length) {
      lines = [labels.sources + labels.colon];
      answer.citations.forEach(function (c) {
        lines.push("[" + c.n + "] " + withDate(c.title, c.date), "    " + c.quote);
      });
      parts.push(lines.join("\n"));
    } else if (answer.related.length) {
      lines = [labels.related + labels.colon];
      answer.related.forEach(function (p, i) { lines.push((i + 1) + ". " + withDate(p.title, p.date)); });
      parts.push(lines.join("\n"));
    }
    return parts.join("\n\n");
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return copyByCommand(text); });
    }
    return copyByCommand(text);
  }

  // Plain http on a host other than localhost (or a frame not allowed the clipboard) has no
  // clipboard API: the older way still works.
  function copyByCommand(text) {
    return new Promise(function (resolve, reject) {
      var area = el("textarea");
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

  function copyButton(answer, labels, status) {
    var button = el("button", "copy-button", labels.copy);
    button.type = "button";
    button.lang = answer.lang || "zh-Hans";
    button.addEventListener("click", function () {
      copyText(plainText(answer)).then(function () { status.textContent = labels.copied; },
                                       function () { status.textContent = labels.copyFailed; });
    });
    return button;
  }

  function feedbackBar(question, answer, labels) {
    var bar = el("div", "feedback");
    var status = el("span", "feedback-status");
    status.setAttribute("role", "status");
    [["up", "有帮助 Helpful"], ["down", "没帮助 Not helpful"]].forEach(function (choice) {
      var button = el("button", "feedback-button " + choice[0]);
      button.appendChild(thumbIcon());
      button.type = "button";
      button.setAttribute("aria-label", choice[1]);
      button.title = choice[1];
      button.addEventListener("click", function () {
        bar.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        button.setAttribute("aria-pressed", "true");
        fetch(FEEDBACK_URL, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ rating: choice[0], question: question, answer: answer.answer,
                                 citations: answer.citations, source: "widget" })
        }).then(function (response) {
          status.textContent = response.ok ? labels.thanks : FAILED;
        }, function () { status.textContent = FAILED; });
      });
      bar.appendChild(button);
    });
    bar.appendChild(copyButton(answer, labels, status));
    bar.appendChild(status);
    return bar;
  }

  function renderAnswer(bubble, question, answer) {
    var labels = LABELS[answer.lang] || LABELS["zh-Hans"];
    bubble.textContent = "";
    bubble.classList.remove("pending");
    if (answer.notice) bubble.appendChild(el("p", "notice", answer.notice));
    bubble.appendChild(answerParagraph(answer.answer, answer.citations));
    var cited = answer.citations.length > 0;
    var count = cited ? answer.citations.length : answer.related.length;
    if (count || answer.standalone_question) {
      var details = el("details", "sources");
      details.open = true;
      details.appendChild(el("summary", null, (cited ? labels.sources : labels.related) + " (" + count + ")"));
      if (answer.standalone_question) details.appendChild(el("p", "rewritten", labels.rewritten + answer.standalone_question));
      var list = el("ol", "source-list");
      if (cited) {
        answer.citations.forEach(function (c) {
          list.appendChild(sourceItem(c, c.title, c.date, c.section, highlightedPassage(c)));
        });
      } else {
        answer.related.forEach(function (p) {
          list.appendChild(sourceItem(null, p.title, p.date, p.section, el("blockquote", "passage", p.text)));
        });
      }
      details.appendChild(list);
      bubble.appendChild(details);
    }
    bubble.appendChild(feedbackBar(question, answer, labels));
  }

  function remember(question, answer) {
    history.push({ role: "user", content: question });
    history.push({ role: "assistant", content: answer.answer.slice(0, MAX_TURN_CHARS) });
    history = history.slice(-MAX_HISTORY);
  }

  // --- the saved conversation ---------------------------------------------------------------

  function save() {
    try {
      turns = turns.slice(-MAX_SAVED_TURNS);
      localStorage.setItem(STORAGE_KEY, JSON.stringify({ version: STORAGE_VERSION, turns: turns }));
    } catch (error) { /* storage full or turned off: the conversation just is not kept */ }
  }

  function forget() {
    try { localStorage.removeItem(STORAGE_KEY); } catch (error) { /* nothing was kept */ }
  }

  function stoppedBubble(bubble, partial) {
    bubble.textContent = "";
    bubble.classList.remove("pending");
    if (partial) bubble.appendChild(el("p", "answer", partial));
    bubble.appendChild(el("p", "stopped", STOPPED));
  }

  function addQuestion(question) {
    var hint = messages.querySelector(".hint");
    if (hint) hint.remove();
    messages.appendChild(el("div", "bubble user", question));
    var bubble = el("div", "bubble assistant pending");
    messages.appendChild(bubble);
    return bubble;
  }

  // What a reload brings back; anything not of the saved shape is dropped (it is re-rendered
  // with textContent like any answer, so nothing in it is ever parsed as HTML).
  function restore() {
    var saved;
    try { saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null"); } catch (error) { saved = null; }
    if (!saved || saved.version !== STORAGE_VERSION || !Array.isArray(saved.turns)) return;
    saved.turns.forEach(function (turn) {
      if (!turn || typeof turn.question !== "string") return;
      var answer = turn.answer;
      var usable = answer && typeof answer.answer === "string" && Array.isArray(answer.citations) &&
        Array.isArray(answer.related);
      if (!usable && !turn.stopped) return;
      var bubble = addQuestion(turn.question);
      if (usable) {
        renderAnswer(bubble, turn.question, answer);
        remember(turn.question, answer);
      } else {
        stoppedBubble(bubble, typeof turn.partial === "string" ? turn.partial : "");
      }
      turns.push(turn);
    });
    messages.querySelectorAll(".bubble.assistant").forEach(showMarks);
    scrollToEnd();
  }

  function clearConversation() {
    if (controller) controller.abort();
    history = [];
    turns = [];
    forget();
    messages.textContent = "";
    messages.appendChild(el("p", "hint", HINT));
    input.focus();
  }

  // --- asking -------------------------------------------------------------------------------

  function setBusy(value) {
    busy = value;
    sendButton.hidden = value;
    stopButton.hidden = !value;
  }

  async function ask(question) {
    setBusy(true);
    controller = new AbortController();
    var signal = controller.signal;
    var bubble = addQuestion(question);
    var streamed = el("p", "answer", "…");
    bubble.appendChild(streamed);
    scrollToEnd();
    var text = "";
    function onDelta(piece) {
      text += piece;
      streamed.textContent = text;
      scrollToEnd();
    }
    try {
      var answer;
      try {
        answer = await streamAnswer(question, onDelta, signal);
      } catch (error) {
        if (!error.retryAfter) throw error;
        // Refused before anything was answered: say so, wait as asked, then ask once more.
        streamed.textContent = error.starting ? STARTING : BUSY;
        await new Promise(function (resolve, reject) {
          var timer = setTimeout(resolve, error.retryAfter * 1000);
          signal.addEventListener("abort", function () { clearTimeout(timer); reject(signal.reason); });
        });
        streamed.textContent = "…";
        answer = await streamAnswer(question, onDelta, signal);
      }
      renderAnswer(bubble, question, answer);
      showMarks(bubble);
      remember(question, answer);
      turns.push({ question: question, answer: answer, stopped: false, partial: "" });
      save();
    } catch (error) {
      if (signal.aborted) {
        if (bubble.isConnected) { // stopped, not cleared: the question stays, marked as stopped
          stoppedBubble(bubble, text);
          turns.push({ question: question, answer: null, stopped: true, partial: text });
          save();
        }
      } else {
        bubble.textContent = "";
        bubble.classList.remove("pending");
        bubble.appendChild(el("p", "error", error.message || FAILED));
      }
    } finally {
      controller = null;
      setBusy(false);
      scrollToEnd();
      input.focus();
    }
  }

  function stop() {
    if (controller) controller.abort();
  }

  function submit(event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question || busy) return;
    input.value = "";
    ask(question);
  }

  function start() {
    form = document.getElementById("ask-form");
    input = document.getElementById("question");
    sendButton = document.getElementById("send");
    stopButton = document.getElementById("stop");
    messages = document.getElementById("messages");
    HINT = messages.querySelector(".hint").textContent;
    var title = new URLSearchParams(location.search).get("title");
    if (title) {
      document.getElementById("widget-title").textContent = title;
      document.title = title;
    }
    form.addEventListener("submit", submit);
    stopButton.addEventListener("click", stop);
    document.getElementById("clear").addEventListener("click", clearConversation);
    restore();
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event);
    });
    // Embedded: Escape asks the host page to close the panel (keys typed here never reach it).
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !event.isComposing && window.parent !== window) {
        window.parent.postMessage({ type: "govdoc-qa:close" }, "*");
      }
    });
    // The host page focuses the iframe when it opens the panel; pass the focus on to the question box.
    window.addEventListener("focus", function () { input.focus(); });
    if (document.hasFocus()) input.focus();
  }

  start();
})();
