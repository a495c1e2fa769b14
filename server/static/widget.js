// The widget: a compact chat that streams answers from api/ask/stream (server-sent events over a
// POST, read with fetch + ReadableStream) and shows the sources of each answer.
// Text from the user and from documents is only ever placed with textContent or text nodes,
// never parsed as HTML. URLs are relative so the widget works under any sub-path.
// A refusal before the stream starts (503 with Retry-After: the server is busy, or still starting)
// is said in the answer's bubble ("busy, trying again"), and the question is asked once more after
// the seconds the server asked for.
(function () {
  "use strict";

  var ASK_URL = "api/ask/stream";
  var FEEDBACK_URL = "api/feedback";
  var DOC_URL = "doc/"; // the source viewer: doc/{id}#s={start}-{end} marks the cited sentence
  var MAX_HISTORY = 20; // the API's limit on earlier messages
  var MAX_TURN_CHARS = 4000; // the API's limit on one earlier message
  var LABELS = {
    "zh-Hans": { sources: "来源", related: "相关段落（未找到答案）", rewritten: "理解为：", thanks: "谢谢反馈" },
    "zh-Hant": { sources: "來源", related: "相關段落（未找到答案）", rewritten: "理解為：", thanks: "謝謝反饋" },
    en: { sources: "Sources", related: "Related passages (no answer found)", rewritten: "Understood as: ", thanks: "Thank you" }
  };
  var FAILED = "出错了，请稍后再试。Something went wrong; please try again.";
  var BUSY = "正在排队，稍后重试… Busy, trying again…";
  var STARTING = "正在启动，稍后重试… Starting, trying again…";
  var MAX_RETRY_WAIT_S = 30; // a longer Retry-After is not waited for: the refusal is shown instead

  var history = [];
  var busy = false;
  var form, input, sendButton, messages;

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

  async function streamAnswer(question, onDelta) {
    var response = await fetch(ASK_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ question: question, history: history })
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

  // Long passages scroll inside their box: bring the highlighted sentence into view, and let the
  // keyboard reach (and so scroll) a box that scrolls.
  function showMarks(bubble) {
    bubble.querySelectorAll(".passage mark").forEach(function (mark) {
      mark.parentNode.scrollTop = Math.max(0, mark.offsetTop - 6);
    });
    bubble.querySelectorAll(".passage").forEach(function (passage) {
      if (passage.scrollHeight > passage.clientHeight) passage.tabIndex = 0;
    });
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

  // --- asking -------------------------------------------------------------------------------

  async function ask(question) {
    busy = true;
    sendButton.disabled = true;
    var hint = messages.querySelector(".hint");
    if (hint) hint.remove();
    messages.appendChild(el("div", "bubble user", question));
    var bubble = el("div", "bubble assistant pending");
    var streamed = el("p", "answer", "…");
    bubble.appendChild(streamed);
    messages.appendChild(bubble);
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
        answer = await streamAnswer(question, onDelta);
      } catch (error) {
        if (!error.retryAfter) throw error;
        // Refused before anything was answered: say so, wait as asked, then ask once more.
        streamed.textContent = error.starting ? STARTING : BUSY;
        await new Promise(function (resolve) { setTimeout(resolve, error.retryAfter * 1000); });
        streamed.textContent = "…";
        answer = await streamAnswer(question, onDelta);
      }
      renderAnswer(bubble, question, answer);
      showMarks(bubble);
      remember(question, answer);
    } catch (error) {
      bubble.textContent = "";
      bubble.classList.remove("pending");
      bubble.appendChild(el("p", "error", error.message || FAILED));
    } finally {
      busy = false;
      sendButton.disabled = false;
      scrollToEnd();
      input.focus();
    }
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
    messages = document.getElementById("messages");
    var title = new URLSearchParams(location.search).get("title");
    if (title) {
      document.getElementById("widget-title").textContent = title;
      document.title = title;
    }
    form.addEventListener("submit", submit);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event);
    });
    // Embedded: Escape asks the host page to close the panel (keys typed here never reach it).
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && window.parent !== window) {
        window.parent.postMessage({ type: "govdoc-qa:close" }, "*");
      }
    });
    // The host page focuses the iframe when it opens the panel; pass the focus on to the question box.
    window.addEventListener("focus", function () { input.focus(); });
    if (document.hasFocus()) input.focus();
  }

  start();
})();
