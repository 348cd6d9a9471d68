"use strict";
/*
 * Parasol's chat page: the thread list, the conversation, the composer, and the client
 * for the chat API, including a reader for its Server-Sent Events. One file, no
 * libraries, no build step.
 *
 * Safety rule for the whole file: text from a model or a person is only ever put into the
 * page with textContent. The one exception is the `html` field of a message, which the
 * server renders from markdown and sanitizes; setTrustedHtml() is the only place that
 * uses innerHTML, and only for that field.
 */

// ---------------------------------------------------------------------------------------
// Settings

const THREAD_PAGE_SIZE = 30;
const TITLE_MAX_CHARS = 60;
const COMPOSER_MAX_ROWS = 8;
// How long to wait before each attempt to resume a dropped answer stream. Any event that
// arrives resets the count, so only a stream that stays down uses them all up.
const RESUME_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 8000];
// A server that has the answer only as stored ends its stream with done "generating"
// while another server writes it: ask again this often, this many times.
const ELSEWHERE_POLL_MS = 3000;
const ELSEWHERE_MAX_POLLS = 100;
// The answer is read out a few sentences at a time, no more often than this.
const ANNOUNCE_INTERVAL_MS = 2500;
const COPIED_FEEDBACK_MS = 2000;
const NEAR_BOTTOM_PX = 80;
const SIGN_IN_URL = "/oauth2/start?rd=/";
const NARROW_QUERY = "(max-width: 48rem)";
const SVG_NS = "http://www.w3.org/2000/svg";

// Icons drawn for this page, on a 24 by 24 grid, stroked with the text colour.
const ICON_PATHS = {
  copy: "M9 9h10v11H9zM5 15V4h10",
  check: "M5 12.5l4.5 4.5L19 7",
  thumb:
    "M7 10v10H4V10zM7 10l4-7c1.6 0 2.6 1.2 2.3 2.8L12.8 9H18a2 2 0 0 1 2 2.3l-1.2 7" +
    "A2 2 0 0 1 16.8 20H7",
  pencil: "M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4",
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
};

// ---------------------------------------------------------------------------------------
// State

const state = {
  threads: [], // summaries in the sidebar, newest first
  nextCursor: null,
  threadId: null, // the open thread; null for a new chat not yet created
  // Bumped on every thread switch, so that late replies for a thread left behind are dropped.
  openCount: 0,
  generation: null, // the answer being streamed into the open thread, if any
  sending: false, // a thread is being created for a message
  threadsFailed: false, // the thread list could not be loaded
  routed: false, // the first route has been handled
  starters: [],
  stickToBottom: true,
};

const els = {};
const rows = new Map(); // thread id -> its row in the sidebar
let announcer = null;

// ---------------------------------------------------------------------------------------
// DOM helpers

/** An element with a class, text and attributes; attributes that are null or false are left out. */
function el(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

function icon(name, extraClass = "") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", `icon icon-small ${extraClass}`.trim());
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICON_PATHS[name]);
  svg.append(path);
  return svg;
}

function textButton(text, className = "text-button") {
  return el("button", { className, text, attrs: { type: "button" } });
}

function iconButton(name, label, className = "icon-button") {
  return el("button", { className, attrs: { type: "button", "aria-label": label } }, [
    icon(name),
  ]);
}

/**
 * Puts server-rendered, sanitized HTML into the page. Only for the `html` field of a
 * message: model text that has not been through the server's renderer never comes here.
 */
function setTrustedHtml(container, html) {
  container.innerHTML = html;

  // Wide tables scroll inside a wrapper instead of widening the page.
  for (const table of container.querySelectorAll("table")) {
    const wrap = el("div", { className: "table-wrap" });
    table.replaceWith(wrap);
    wrap.append(table);
  }

  // A link in an answer opens beside the chat, so following it does not leave the page
  // while an answer is still streaming.
  for (const link of container.querySelectorAll("a[href]")) {
    link.target = "_blank";
    link.relList.add("noopener", "noreferrer");
  }
}

function enc(id) {
  return encodeURIComponent(String(id));
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

function isAbort(error) {
  return error?.name === "AbortError";
}

// ---------------------------------------------------------------------------------------
// API client

class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

class NetworkError extends Error {
  constructor() {
    super("Could not reach Parasol.");
    this.name = "NetworkError";
  }
}

/** A fetch that turns every failure into an ApiError or a NetworkError (or an AbortError). */
async function request(method, path, { body, headers = {}, signal, stream = false } = {}) {
  const init = {
    method,
    headers: { Accept: stream ? "text/event-stream" : "application/json", ...headers },
    credentials: "same-origin",
    cache: "no-store",
    signal,
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new NetworkError();
  }

  // A gateway in front may answer an expired session with a redirect to its sign-in
  // page rather than a 401; fetch follows it, so look at where it ended up.
  if (response.redirected && new URL(response.url).pathname.startsWith("/oauth2/")) {
    throw new ApiError(401, "unauthenticated", "Your session has ended.");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/** A JSON request; resolves to the parsed body, or null when there is none. */
async function api(method, path, body) {
  const response = await request(method, path, { body });
  const text = await response.text();
  if (!text) return null;
  // Anything but JSON here is most likely a proxy's page standing in for the API.
  const type = response.headers.get("Content-Type") ?? "";
  if (!type.includes("json")) {
    const message = "The server sent an answer the page cannot read.";
    throw new ApiError(response.status, "bad_response", message);
  }
  return JSON.parse(text);
}

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = "";
  try {
    const body = await response.json();
    code = body?.error?.code ?? code;
    message = body?.error?.message ?? "";
  } catch {
    // Not JSON: an error page from a proxy in front. The status says enough.
  }
  return new ApiError(
    response.status,
    code,
    message || response.statusText || "The request failed.",
    retryAfterSeconds(response.headers.get("Retry-After")),
  );
}

/** Retry-After is either a number of seconds or an HTTP date. */
function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(1, Math.ceil((when - Date.now()) / 1000));
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events

/**
 * An incremental parser for the text/event-stream format. Feed it decoded text in
 * pieces of any size with push(); it calls onEvent({type, data, id}) for each complete
 * event. Lines may end in LF, CR or CRLF, and a CRLF may be split across two pieces.
 */
class SseParser {
  #buffer = "";
  #data = [];
  #type = "";
  #idBuffer = "";

  constructor(onEvent) {
    this.onEvent = onEvent;
    this.lastEventId = ""; // the id of the last event dispatched, as a reconnect sends it
    this.retry = null;
  }

  /** Adds text; `final` says the stream has ended. */
  push(text, final = false) {
    this.#buffer += text;
    let start = 0;
    for (;;) {
      const end = this.#lineEnd(start, final);
      if (end < 0) break;
      this.#line(this.#buffer.slice(start, end));
      const crlf = this.#buffer[end] === "\r" && this.#buffer[end + 1] === "\n";
      start = end + (crlf ? 2 : 1);
    }
    this.#buffer = this.#buffer.slice(start);

    // The format says an event cut off by the end of the stream is dropped, not
    // dispatched: a resumed stream sends it again whole.
    if (final) {
      this.#buffer = "";
      this.#data = [];
      this.#type = "";
    }
  }

  /** Where the line starting at `start` ends, or -1 if it has not ended yet. */
  #lineEnd(start, final) {
    for (let i = start; i < this.#buffer.length; i++) {
      const c = this.#buffer[i];
      if (c === "\n") return i;
      if (c === "\r") {
        // A CR last in the buffer may be the first half of a CRLF: wait for the next piece.
        return i + 1 < this.#buffer.length || final ? i : -1;
      }
    }
    return -1;
  }

  #line(line) {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.startsWith(":")) return; // a comment, such as a keep-alive

    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);

    if (field === "event") this.#type = value;
    else if (field === "data") this.#data.push(value);
    else if (field === "id" && !value.includes("\0")) this.#idBuffer = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }

  #dispatch() {
    this.lastEventId = this.#idBuffer;
    if (this.#data.length === 0) {
      this.#type = "";
      return;
    }
    const event = {
      type: this.#type || "message",
      data: this.#data.join("\n"),
      id: this.lastEventId,
    };
    this.#data = [];
    this.#type = "";
    this.onEvent(event);
  }
}

/** Reads a fetch response as an event stream until it ends, calling onEvent for each event. */
async function readEventStream(response, onEvent) {
  if (!response.body) return;
  const parser = new SseParser((event) => {
    try {
      onEvent(event);
    } catch (error) {
      // One event the page cannot show must not cost the rest of the answer.
      console.error("Parasol: could not handle a stream event", event.type, error);
    }
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(decoder.decode(value, { stream: true }));
    }
    parser.push(decoder.decode(), true);
  } catch (error) {
    // A connection cut mid-stream surfaces here as a TypeError.
    if (isAbort(error)) throw error;
    throw new NetworkError();
  } finally {
    try {
      reader.releaseLock();
    } catch {
      // Older engines refuse while a read is pending; the aborted fetch ends it anyway.
    }
  }
}

// ---------------------------------------------------------------------------------------
// Announcements for screen readers

/**
 * Reads a streaming answer out through a polite live region a few whole sentences at a
 * time. The answer element itself is not live: it changes with every token, which would
 * make a screen reader stutter or fall silent.
 */
class Announcer {
  constructor(region) {
    this.region = region;
    this.timer = null;
    this.reset();
  }

  /** Starts over; `alreadySaid` characters of the next answer's text are not read out. */
  reset(alreadySaid = 0) {
    clearTimeout(this.timer);
    this.timer = null;
    this.said = alreadySaid;
    this.pending = "";
    this.lastAt = 0;
  }

  /** Takes the answer's whole text so far and queues any sentences it now completes. */
  feed(text) {
    if (this.said > text.length) this.said = 0;
    const rest = text.slice(this.said);
    const end = lastSentenceEnd(rest);
    if (end === 0) return;
    this.pending += rest.slice(0, end);
    this.said += end;
    this.#schedule();
  }

  /** Reads whatever is left of the answer, then `suffix`. */
  finish(text, suffix) {
    const rest = this.pending + (this.said <= text.length ? text.slice(this.said) : "");
    this.reset();
    this.#say(`${speakable(rest)} ${suffix}`.trim());
  }

  #schedule() {
    if (this.timer) return;
    const wait = Math.max(0, this.lastAt + ANNOUNCE_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      const text = this.pending;
      this.pending = "";
      this.#say(speakable(text));
    }, wait);
  }

  #say(text) {
    if (!text) return;
    this.lastAt = Date.now();
    this.region.textContent = text;
  }
}

function lastSentenceEnd(text) {
  let end = 0;
  for (const match of text.matchAll(/[.!?…](?=\s)|\n/g)) end = match.index + match[0].length;
  return end;
}

/** Markdown punctuation removed, so that a screen reader does not read out "star star". */
function speakable(markdown) {
  return markdown
    .replace(/^\s*(```|~~~).*$/gm, " ")
    .replace(/^[\s|:-]*-[\s|:-]*$/gm, " ") // a table's header underline
    .replace(/[*_`#>|~]+/g, "")
    .replace(/\s+/g, " ")
    .trim();
}

function announceStatus(text) {
  // Emptied first, so that the same words said twice are announced twice.
  els.statusLive.textContent = "";
  requestAnimationFrame(() => {
    els.statusLive.textContent = text;
  });
}

// ---------------------------------------------------------------------------------------
// Streaming preview: a rough, safe rendering of markdown while it arrives

/**
 * Shows partial markdown as paragraphs, headings, lists, quotes and code blocks. Every
 * element gets its text through textContent, so nothing in the text can become markup;
 * the server's sanitized HTML replaces all of this when the answer is complete.
 */
function renderPreview(container, markdown) {
  const out = document.createDocumentFragment();
  let block = null; // the paragraph, list, quote or table text that the next line may continue
  let code = null; // the <code> of an open fence

  for (const line of markdown.split("\n")) {
    if (code) {
      if (/^\s*(```|~~~)/.test(line)) code = null;
      else code.textContent += `${line}\n`;
      continue;
    }
    if (/^\s*(```|~~~)/.test(line)) {
      code = el("code");
      out.append(el("pre", {}, [code]));
      block = null;
      continue;
    }
    if (line.trim() === "") {
      block = null;
      continue;
    }
    block = previewLine(out, block, line);
  }
  container.replaceChildren(out);
}

/** Adds one line outside code to the preview; returns the block a next line may continue. */
function previewLine(out, block, line) {
  const heading = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
  if (heading) {
    out.append(inlinePreview(el(`h${heading[1].length}`), heading[2]));
    return null;
  }

  const item = /^\s*(?:[-*+]|(\d{1,9})[.)])\s+(.*)$/.exec(line);
  if (item) {
    const tag = item[1] ? "ol" : "ul";
    let list = block;
    if (list?.localName !== tag) {
      list = el(tag);
      if (item[1] && item[1] !== "1") list.start = Number(item[1]);
      out.append(list);
    }
    list.append(inlinePreview(el("li"), item[2]));
    return list;
  }

  const quote = /^\s*>\s?(.*)$/.exec(line);
  if (quote) {
    const box = block?.localName === "blockquote" ? block : el("blockquote");
    if (box !== block) out.append(box);
    box.append(inlinePreview(el("p"), quote[1]));
    return box;
  }

  // Table rows keep their line breaks, shown as the plain text they are until the
  // final rendering turns them into a table.
  if (/^\s*\|/.test(line)) {
    const table = block?.classList?.contains("preview-table") ? block : null;
    const pre = table ?? el("pre", { className: "preview-table" });
    if (!table) out.append(pre);
    pre.append(`${pre.textContent ? "\n" : ""}${line}`);
    return pre;
  }

  if (block?.localName === "p") {
    block.append(" ");
    inlinePreview(block, line.trim());
    return block;
  }
  const paragraph = inlinePreview(el("p"), line.trim());
  out.append(paragraph);
  return paragraph;
}

/** Appends text to a node with `code` spans and **strong** text, all set as text. */
function inlinePreview(node, text) {
  for (const part of text.split(/(`[^`]+`|\*\*[^*]+\*\*)/)) {
    if (!part) continue;
    if (part.startsWith("`") && part.endsWith("`") && part.length > 1) {
      node.append(el("code", { text: part.slice(1, -1) }));
    } else if (part.startsWith("**") && part.endsWith("**") && part.length > 4) {
      node.append(el("strong", { text: part.slice(2, -2) }));
    } else {
      node.append(part);
    }
  }
  return node;
}

// ---------------------------------------------------------------------------------------
// Formatting

function prettyJson(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value; // not JSON after all: show it as it came
    }
  }
  return JSON.stringify(value, null, 2);
}

/** A tool's output as text; output that is a JSON object or array is laid out to read. */
function outputText(value) {
  if (value === null || value === undefined) return "";
  if (typeof value !== "string") return JSON.stringify(value, null, 2);
  return /^\s*[[{]/.test(value) ? prettyJson(value) : value;
}

function formatDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "done";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
  const minutes = Math.floor(ms / 60000);
  return `${minutes} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** A title for a new thread from its first message: one line, cut at a word near 60 characters. */
function titleFrom(text) {
  const line = text.replace(/\s+/g, " ").trim();
  if (line.length <= TITLE_MAX_CHARS) return line;
  const cut = line.slice(0, TITLE_MAX_CHARS);
  const space = cut.lastIndexOf(" ");
  return `${(space > TITLE_MAX_CHARS * 0.6 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

function threadTitle(thread) {
  return thread?.title?.trim() || "Untitled conversation";
}

/** Feedback as the API sends it (1, -1, null, or a name) as 1, -1 or 0. */
function feedbackValue(raw) {
  if (raw === 1 || raw === "1" || /^(up|positive|like|good)$/i.test(String(raw))) return 1;
  if (raw === -1 || raw === "-1" || /^(down|negative|dislike|bad)$/i.test(String(raw))) return -1;
  return 0;
}

// ---------------------------------------------------------------------------------------
// Errors shown to the person

/** What to tell the person about an error, as a node (it may hold a link). */
function describeError(error) {
  if (error instanceof NetworkError) {
    return document.createTextNode(
      "Could not reach Parasol. Check the connection and try again.",
    );
  }
  if (!(error instanceof ApiError)) {
    return document.createTextNode(error?.message || "Something went wrong.");
  }
  if (error.status === 401) {
    const link = el("a", { text: "Sign in again", attrs: { href: SIGN_IN_URL } });
    return el("span", { text: "Your session has ended. " }, [link, "."]);
  }
  if (error.status === 429) {
    const wait = error.retryAfter ? `in ${error.retryAfter} s` : "in a moment";
    return document.createTextNode(`Slow down: too many requests. Try again ${wait}.`);
  }
  if (error.status === 413) {
    return document.createTextNode("That is too long to send. Shorten it and try again.");
  }
  if (error.status >= 500) {
    return document.createTextNode(
      error.message || "Something went wrong on the server. Try again.",
    );
  }
  return document.createTextNode(error.message);
}

function showNotice(errorOrText) {
  const content =
    typeof errorOrText === "string"
      ? document.createTextNode(errorOrText)
      : describeError(errorOrText);
  els.noticeText.replaceChildren(content);
  els.notice.hidden = false;
}

function clearNotice() {
  els.notice.hidden = true;
  els.noticeText.replaceChildren();
}

// ---------------------------------------------------------------------------------------
// Messages

function userMessageElement(message, pending = false) {
  const article = el("article", {
    className: `message message--user${pending ? " is-pending" : ""}`,
    attrs: { "aria-label": "You said", "data-testid": "user-message" },
  });
  fillUserMessage(article, message);
  return article;
}

function fillUserMessage(article, message) {
  if (message.id !== undefined) article.dataset.messageId = String(message.id);
  const body = el("div");
  if (message.html) {
    body.className = "markdown";
    setTrustedHtml(body, message.html);
  } else {
    body.className = "message-plain";
    body.textContent = message.content ?? "";
  }
  article.replaceChildren(body);
}

/** One answer from the agent: its steps, its text, a status note and its actions. */
class AnswerView {
  constructor(messageId, status = "generating") {
    this.messageId = messageId === undefined || messageId === null ? null : String(messageId);
    this.text = ""; // markdown received in this stream
    this.base = ""; // markdown already stored when a generating answer was reopened
    this.content = ""; // the final markdown, once the server has sent it
    this.rendered = null; // the markdown the body shows now, to skip needless redraws
    this.error = "";
    this.feedback = 0;
    this.savingFeedback = false;
    this.up = null; // the feedback buttons, once the answer has ended
    this.down = null;
    this.steps = new Map();
    this.frame = 0; // a pending animation frame for the preview

    this.stepsBox = el("div", { className: "steps" });
    this.waiting = el("div", { className: "answer-waiting" }, [
      el("span", { className: "spinner", attrs: { "aria-hidden": "true" } }),
      el("span", { text: "Thinking…" }),
    ]);
    this.body = el("div", { className: "answer-body markdown" });
    this.note = el("div", { className: "answer-note", attrs: { hidden: true } });
    this.actions = el("div", { className: "answer-actions", attrs: { hidden: true } });
    this.element = el(
      "article",
      {
        className: "message message--assistant",
        attrs: { "data-testid": "answer", "aria-label": "Answer" },
      },
      [this.stepsBox, this.waiting, this.body, this.note, this.actions],
    );
    this.setMessageId(this.messageId);
    this.setStatus(status);
  }

  setMessageId(id) {
    this.messageId = id === null ? null : String(id);
    if (this.messageId) this.element.dataset.messageId = this.messageId;
  }

  setStatus(status) {
    this.status = status;
    const generating = status === "generating";
    this.element.dataset.status = status;
    this.element.setAttribute("aria-busy", String(generating));
    this.body.classList.toggle("is-streaming", generating);
    this.#refreshWaiting();
  }

  /** Fills the view from a stored message. */
  load(message) {
    for (const step of message.steps ?? []) this.#updateStep(step.id, step);
    this.content = message.content ?? "";
    if (message.html) setTrustedHtml(this.body, message.html);
    else renderPreview(this.body, this.content);
    this.rendered = this.content;
    this.error = message.error ?? "";
    this.feedback = feedbackValue(message.feedback);
    if (message.status === "generating") {
      // Reopened mid-answer: what is stored so far stays on screen while the stream
      // resumes, and the final `message` event replaces it.
      this.base = this.content;
      this.content = "";
    } else {
      this.#showOutcome(message.usage);
    }
    this.#refreshWaiting();
  }

  /**
   * Prepares for a stream told again from its start: what is on screen becomes the base
   * that the retold text is matched against, so that it does not appear twice.
   */
  rebase() {
    this.base = this.content || this.displayText();
    this.text = "";
    this.content = "";
  }

  /** The markdown to show now. See load() for `base`. */
  displayText() {
    if (!this.base) return this.text;
    // A stream replayed from the start is still retelling what is stored...
    if (this.base.startsWith(this.text)) return this.base;
    // ...or has gone past it; otherwise the stream only carries what came after.
    if (this.text.startsWith(this.base)) return this.text;
    return this.base + this.text;
  }

  appendText(delta) {
    this.text += delta;
    this.content = "";
    // Redrawn at most once a frame: deltas can arrive far faster than the screen updates.
    if (!this.frame) this.frame = requestAnimationFrame(() => this.#drawPreview());
  }

  #drawPreview() {
    this.frame = 0;
    const text = this.displayText();
    if (text === this.rendered) return;
    renderPreview(this.body, text);
    this.rendered = text;
    this.#refreshWaiting();
    followAnswer();
  }

  /** The server's sanitized rendering of the whole answer replaces the preview. */
  showFinal(html, content) {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.content = content ?? this.displayText();
    this.text = this.content;
    this.base = "";
    if (html) setTrustedHtml(this.body, html);
    else renderPreview(this.body, this.content);
    this.rendered = this.content;
    this.#refreshWaiting();
    followAnswer();
  }

  startStep(data) {
    this.#updateStep(data.step_id, { tool: data.tool, input: data.input }, true);
  }

  endStep(data) {
    this.#updateStep(data.step_id, {
      tool: data.tool,
      output: data.output,
      is_error: data.is_error,
      duration_ms: data.duration_ms,
      finished: true,
    });
  }

  finish(status, usage) {
    if (this.frame) this.#drawPreview();
    this.setStatus(status || "complete");
    this.#showOutcome(usage);
  }

  showError(message) {
    this.error = message || "The answer failed.";
    this.#renderNote();
  }

  /** The stream could not be resumed: say so, and offer to try again. */
  showLost(retry) {
    const button = textButton("Reconnect");
    button.addEventListener("click", retry);
    this.note.className = "answer-note is-error";
    this.note.replaceChildren("Lost the connection while the answer was being written.", button);
    this.note.hidden = false;
  }

  #showOutcome(usage) {
    // Steps still marked running when the answer ended never reported back.
    for (const step of this.steps.values()) {
      if (step.running) this.#settleStep(step, { output: null, duration_ms: null });
    }
    this.#renderNote();
    this.#renderActions(usage);
    this.#refreshWaiting();
  }

  #renderNote() {
    const notes = {
      stopped: "Stopped before the answer was finished.",
      interrupted: "This answer was interrupted.",
    };
    const lead = notes[this.status] ?? "";
    const text = [lead, this.error].filter(Boolean).join(" ");
    this.note.className = `answer-note${this.error ? " is-error" : ""}`;
    this.note.textContent = text;
    this.note.hidden = !text;
  }

  #renderActions(usage) {
    this.actions.replaceChildren();
    this.actions.hidden = false;
    this.actions.append(this.#copyButton());
    if (this.messageId) {
      this.up = this.#feedbackButton(1, "Good answer", "feedback-up", "");
      this.down = this.#feedbackButton(-1, "Bad answer", "feedback-down", "icon-flip");
      this.actions.append(this.up, this.down);
      this.#showFeedback();
    }
    if (usage && (usage.input_tokens || usage.output_tokens)) {
      const text = `${usage.input_tokens ?? 0} in · ${usage.output_tokens ?? 0} out`;
      this.actions.append(
        el("span", { className: "usage", text, attrs: { title: "Tokens used" } }),
      );
    }
  }

  #copyButton() {
    const label = el("span", { text: "Copy" });
    const button = el(
      "button",
      { className: "action-button", attrs: { type: "button", "data-testid": "copy" } },
      [icon("copy"), label],
    );
    let timer = 0;
    button.addEventListener("click", async () => {
      const done = await copyText(this.content || this.displayText());
      button.classList.toggle("is-done", done);
      button.firstChild.replaceWith(icon(done ? "check" : "copy"));
      label.textContent = done ? "Copied" : "Copy failed";
      announceStatus(done ? "Copied the answer." : "Could not copy the answer.");
      clearTimeout(timer);
      timer = setTimeout(() => {
        button.classList.remove("is-done");
        button.firstChild.replaceWith(icon("copy"));
        label.textContent = "Copy";
      }, COPIED_FEEDBACK_MS);
    });
    return button;
  }

  #feedbackButton(value, label, testId, iconClass) {
    const button = el(
      "button",
      {
        className: "action-button",
        attrs: {
          type: "button",
          "aria-label": label,
          "aria-pressed": "false",
          "data-testid": testId,
        },
      },
      [icon("thumb", iconClass)],
    );
    button.addEventListener("click", () => this.#toggleFeedback(value));
    return button;
  }

  #showFeedback() {
    this.up?.setAttribute("aria-pressed", String(this.feedback === 1));
    this.down?.setAttribute("aria-pressed", String(this.feedback === -1));
  }

  async #toggleFeedback(value) {
    if (this.savingFeedback) return;
    const previous = this.feedback;
    this.feedback = previous === value ? 0 : value;
    this.#showFeedback();
    this.savingFeedback = true;
    try {
      await api("PUT", `/api/messages/${enc(this.messageId)}/feedback`, { value: this.feedback });
    } catch (error) {
      this.feedback = previous; // the server did not take it: show what it has
      this.#showFeedback();
      showNotice(error);
    } finally {
      this.savingFeedback = false;
    }
  }

  /** Creates or updates a step; `running` marks a step that has started but not ended. */
  #updateStep(id, data, running = false) {
    const key = String(id ?? `step-${this.steps.size + 1}`);
    let step = this.steps.get(key);
    if (!step) {
      step = createStepElement(key);
      this.steps.set(key, step);
      this.stepsBox.append(step.details);
    }
    const tool = data.tool ?? data.tool_name;
    if (tool) step.tool.textContent = tool;
    const input = data.input ?? data.input_json;
    if (input !== undefined) step.input.textContent = prettyJson(input);

    const finished = data.finished || data.output != null || data.duration_ms != null;
    if (finished) this.#settleStep(step, data);
    else if (step.settled) {
      // A resumed stream retelling the start of a step that has already ended.
    } else if (running || this.status === "generating") markStepRunning(step);
    else this.#settleStep(step, data);
    this.#refreshWaiting();
    followAnswer();
  }

  #settleStep(step, data) {
    step.running = false;
    step.settled = true;
    step.details.classList.remove("is-running");
    step.details.classList.toggle("is-error", Boolean(data.is_error));
    step.spinner.hidden = true;
    const duration = data.duration_ms == null ? "no result" : formatDuration(data.duration_ms);
    step.state.textContent = data.is_error ? `failed · ${duration}` : duration;
    const output = outputText(data.output);
    step.output.textContent = output;
    step.output.hidden = !output;
    step.outputLabel.hidden = !output;
    step.outputLabel.textContent = data.is_error ? "Error" : "Output";
  }

  #refreshWaiting() {
    const anyRunning = [...this.steps.values()].some((step) => step.running);
    const empty = !this.rendered && !this.body.hasChildNodes();
    this.waiting.hidden = !(this.status === "generating" && empty && !anyRunning);
  }
}

function createStepElement(id) {
  const spinner = el("span", { className: "spinner", attrs: { "aria-hidden": "true" } });
  const tool = el("span", { className: "step-tool", text: "tool" });
  const stateText = el("span", { className: "step-state", text: "running…" });
  const summary = el("summary", { className: "step-summary" }, [
    spinner,
    el("span", { className: "visually-hidden", text: "Tool call " }),
    tool,
    stateText,
  ]);
  const input = el("pre", { className: "step-pre step-input" });
  const outputLabel = el("p", { className: "step-label", text: "Output", attrs: { hidden: true } });
  const output = el("pre", { className: "step-pre step-output", attrs: { hidden: true } });
  const body = el("div", { className: "step-body" }, [
    el("p", { className: "step-label", text: "Input" }),
    input,
    outputLabel,
    output,
  ]);
  const details = el(
    "details",
    { className: "step is-running", attrs: { "data-testid": "step", "data-step-id": id } },
    [summary, body],
  );
  return {
    details,
    spinner,
    tool,
    state: stateText,
    input,
    output,
    outputLabel,
    running: true,
    settled: false,
  };
}

function markStepRunning(step) {
  step.running = true;
  step.details.classList.add("is-running");
  step.spinner.hidden = false;
  step.state.textContent = "running…";
}

/** Copies text, with the old selection-based way for pages the Clipboard API refuses. */
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Denied, or the document lost focus: try the old way.
    }
  }
  const focused = document.activeElement;
  const area = el("textarea", {
    className: "offscreen",
    attrs: { readonly: true, "aria-hidden": "true" },
  });
  area.value = text;
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch {
    copied = false;
  }
  area.remove();
  focused?.focus?.();
  return copied;
}

// ---------------------------------------------------------------------------------------
// Scrolling

function isNearBottom() {
  const box = els.scroller;
  return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  els.scroller.scrollTop = els.scroller.scrollHeight;
  state.stickToBottom = true;
}

/** Keeps a growing answer in view, unless the person has scrolled up to read. */
function followAnswer() {
  if (state.stickToBottom) els.scroller.scrollTop = els.scroller.scrollHeight;
}

// ---------------------------------------------------------------------------------------
// Answer streams: send, resume, stop
//
// A message is POSTed and its answer read from the response as it streams. If that
// stream drops before a done or error event, the answer is still being written on the
// server, so the page asks for the rest of it at /api/messages/{id}/events with the id of
// the last event it saw, backing off between attempts. A thread reopened while its last
// answer is generating is followed the same way. Leaving a thread only stops reading; the
// Stop button is what stops the answer.

/** The answer being streamed into the open thread, and what has been learnt about it. */
class Generation {
  constructor(threadId) {
    this.threadId = threadId;
    this.controller = new AbortController();
    this.messageId = null; // known from answer_start
    this.lastEventId = null; // sent as Last-Event-ID when resuming
    this.view = null;
    this.userView = null; // the person's message, shown before the server has stored it
    this.userContent = "";
    this.userStored = false;
    this.terminal = false; // a done or error event came: the stream has nothing more to say
    this.progressed = false; // an event came since the last (re)connection
    this.failed = null; // an error that ends the attempt, shown when it is tidied up
    this.reload = false; // the stored thread is a better account than the stream now
    this.lost = false; // resuming gave up
    this.elsewhere = false; // the last stream said another server is writing the answer
    this.stopRequested = false;
    this.stopSent = false;
  }

  get aborted() {
    return this.controller.signal.aborted;
  }

  /** Whether to keep reading: nothing has ended, refused or replaced the stream. */
  get open() {
    return !this.terminal && !this.aborted && !this.failed && !this.reload && !this.lost;
  }
}

// Answers reloaded from the store because a resumed stream had nothing to say, so that an
// answer the server still calls generating but never streams is reloaded once, not forever.
const reloadedAnswers = new Set();

const STREAM_HANDLERS = {
  user_message(gen, data) {
    if (!gen.userView || !data.message) return; // a resumed stream retells it
    fillUserMessage(gen.userView, data.message);
    gen.userView.classList.remove("is-pending");
    gen.userStored = true;
  },
  answer_start(gen, data) {
    adoptAnswer(gen, data.message_id);
  },
  text(gen, data) {
    const view = answerView(gen);
    view.appendText(String(data.delta ?? ""));
    announcer.feed(view.displayText());
  },
  step_start(gen, data) {
    answerView(gen).startStep(data);
  },
  step_end(gen, data) {
    answerView(gen).endStep(data);
  },
  message(gen, data) {
    answerView(gen).showFinal(data.html, data.content);
  },
  done(gen, data) {
    if (data.status === "generating") {
      // A snapshot from a server that is not writing the answer: keep what it showed and
      // ask again later, from the start, since its event numbers are not the writer's.
      gen.elsewhere = true;
      gen.lastEventId = null;
      return;
    }
    gen.terminal = true;
    const view = answerView(gen);
    view.finish(data.status, data.usage);
    announceEnd(view);
    bumpThread(gen.threadId);
  },
  error(gen, data) {
    const message = data.message || "The answer failed.";
    // The server follows an error with `message` and `done`, which end the answer. Before
    // answer_start there is no answer to hold it: the message itself was refused.
    if (gen.messageId) {
      gen.view.showError(message);
    } else {
      gen.terminal = true;
      gen.failed = new Error(message);
    }
  },
};

function handleStreamEvent(gen, event) {
  if (gen.aborted) return;
  gen.progressed = true;
  if (event.id) gen.lastEventId = event.id;

  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return; // a frame that is not JSON carries nothing this page knows
  }
  STREAM_HANDLERS[event.type]?.(gen, data ?? {});
}

/** The answer's view, for an event about its content. */
function answerView(gen) {
  // Should answer_start have been missed, the frame's id still names the answer.
  if (!gen.messageId) adoptAnswer(gen, messageIdFrom(gen.lastEventId));
  return gen.view;
}

function adoptAnswer(gen, messageId) {
  if (messageId !== undefined && messageId !== null) gen.messageId = String(messageId);
  if (gen.userView) {
    gen.userView.classList.remove("is-pending"); // the server has it, or it would not answer
    gen.userStored = true;
  }
  if (!gen.view) {
    gen.view = new AnswerView(gen.messageId);
    els.messages.append(gen.view.element);
    followAnswer();
  } else if (gen.messageId) {
    gen.view.setMessageId(gen.messageId);
  }
  if (gen.stopRequested && gen.messageId) sendStop(gen);
}

/** Event ids are `<message_id>.<seq>`; the message id is everything before the last dot. */
function messageIdFrom(eventId) {
  if (!eventId) return null;
  const dot = eventId.lastIndexOf(".");
  return dot > 0 ? eventId.slice(0, dot) : null;
}

function announceEnd(view) {
  const endings = {
    complete: "Answer complete.",
    stopped: "Answer stopped.",
    interrupted: "Answer interrupted.",
  };
  announcer.finish(view.displayText(), endings[view.status] ?? "");
}

async function sendMessage(text) {
  const content = text.trim();
  if (!content || state.generation || state.sending) return;
  if (document.activeElement === els.send) els.composer.focus();
  clearNotice();

  let threadId = state.threadId;
  if (!threadId) {
    state.sending = true;
    updateComposer();
    try {
      threadId = await createThreadFor(content);
    } finally {
      state.sending = false;
      updateComposer();
    }
  }
  if (threadId && threadId === state.threadId) await postMessage(threadId, content);
}

/** Creates the thread a first message goes to; resolves to its id, or null. */
async function createThreadFor(content) {
  const opened = state.openCount;
  let thread;
  try {
    thread = await api("POST", "/api/threads", { title: titleFrom(content) });
  } catch (error) {
    showNotice(error);
    return null;
  }
  state.threads = [thread, ...state.threads.filter((t) => t.id !== thread.id)];
  renderThreadList();
  if (opened !== state.openCount) return null; // the person went elsewhere meanwhile

  state.threadId = String(thread.id);
  state.openCount += 1;
  history.pushState(null, "", threadHash(thread.id));
  markCurrentThread();
  document.title = `${threadTitle(thread)} · Parasol`;
  return state.threadId;
}

async function postMessage(threadId, content) {
  els.emptyState.hidden = true;
  const gen = new Generation(threadId);
  gen.userContent = content;
  gen.userView = userMessageElement({ content }, true);
  // The answer's place is shown at once, "Thinking…", and given its id by answer_start.
  gen.view = new AnswerView(null);
  els.messages.append(gen.userView, gen.view.element);
  beginGeneration(gen);
  setComposerText("");
  scrollToBottom();

  try {
    const response = await request("POST", `/api/threads/${enc(threadId)}/messages`, {
      body: { content },
      signal: gen.controller.signal,
      stream: true,
    });
    await readEventStream(response, (event) => handleStreamEvent(gen, event));
  } catch (error) {
    // An API error refused the message. A network error may have cut a running answer
    // short, which resuming picks up again.
    if (error instanceof ApiError) gen.failed = error;
    else if (!isAbort(error) && !(error instanceof NetworkError)) console.error(error);
  }
  await settle(gen);
}

/** Follows a generating answer of a reopened thread from where its stream now is. */
function resumeAnswer(threadId, view) {
  const gen = new Generation(threadId);
  gen.view = view;
  gen.messageId = view.messageId;
  beginGeneration(gen);
  // Without a Last-Event-ID the stream is asked for from its start; rebase() keeps the
  // stored text on screen while the replay catches up, and the announcer skips it.
  announcer.reset(view.displayText().length);
  settle(gen, { immediately: true });
}

/** After a stream ends: resume it while the answer is not over, then tidy up. */
async function settle(gen, { immediately = false } = {}) {
  await resumeUntilDone(gen, immediately);
  endGeneration(gen);
}

async function resumeUntilDone(gen, immediately) {
  let attempt = 0;
  let polls = 0;
  let wait = !immediately;
  while (gen.open) {
    if (!gen.messageId) {
      gen.reload = true; // cut off before answer_start: only the stored thread can tell
      return;
    }
    if (attempt >= RESUME_DELAYS_MS.length || polls > ELSEWHERE_MAX_POLLS) {
      gen.lost = true;
      return;
    }
    if (gen.elsewhere) polls += 1;
    const delay = gen.elsewhere ? ELSEWHERE_POLL_MS : RESUME_DELAYS_MS[attempt];
    if (wait) await sleep(delay, gen.controller.signal);
    wait = true;
    if (gen.aborted) return;

    gen.progressed = false;
    gen.elsewhere = false;
    const ended = await resumeOnce(gen);
    if (ended && !gen.progressed && gen.open && !reloadedAnswers.has(gen.messageId)) {
      // The server answered but had nothing to add: the answer is most likely over and
      // the stored message says how it ended.
      reloadedAnswers.add(gen.messageId);
      gen.reload = true;
    }
    attempt = gen.progressed ? 0 : attempt + 1;
  }
}

/** One attempt to resume; resolves to true if the server streamed and closed cleanly. */
async function resumeOnce(gen) {
  const headers = gen.lastEventId ? { "Last-Event-ID": gen.lastEventId } : {};
  // From the start, the stream retells what the view already shows.
  if (!gen.lastEventId) gen.view.rebase();
  try {
    const response = await request("GET", `/api/messages/${enc(gen.messageId)}/events`, {
      headers,
      signal: gen.controller.signal,
      stream: true,
    });
    await readEventStream(response, (event) => handleStreamEvent(gen, event));
    return true;
  } catch (error) {
    // Network trouble, 5xx and 429 are worth another try; a 401 needs the person; other
    // refusals (the answer's events are gone, say) leave the stored message as the
    // best account of it.
    if (!(error instanceof ApiError) || error.status === 429 || error.status >= 500) {
      return false;
    }
    if (error.status === 401) gen.failed = error;
    else gen.reload = true;
    return false;
  }
}

function beginGeneration(gen) {
  state.generation = gen;
  announcer.reset();
  setGenerating(true);
}

function endGeneration(gen) {
  if (state.generation === gen) {
    state.generation = null;
    setGenerating(false);
  }
  if (gen.aborted) return;

  if (gen.userView && !gen.userStored) {
    // The server never took the message: take it back into the composer to try again.
    gen.userView.remove();
    if (!els.composer.value) setComposerText(gen.userContent);
  }
  if (!gen.messageId) gen.view?.element.remove(); // no answer was started
  if (!els.messages.hasChildNodes()) els.emptyState.hidden = false;

  if (gen.reload && gen.threadId === state.threadId) {
    openThread(gen.threadId);
    return;
  }
  if (gen.failed) showNotice(gen.failed);

  const view = gen.view;
  if (!gen.messageId || view?.status !== "generating") return;
  if (gen.terminal) {
    view.finish("interrupted"); // an error event with no done after it
    announceEnd(view);
  } else {
    view.showLost(() => openThread(gen.threadId));
  }
}

/** Stops reading the current stream without stopping the answer: the server carries on. */
function detachGeneration() {
  const gen = state.generation;
  if (!gen) return;
  gen.controller.abort();
  state.generation = null;
  announcer.reset();
  setGenerating(false);
}

function requestStop() {
  const gen = state.generation;
  if (!gen || gen.stopRequested) return;
  gen.stopRequested = true;
  // aria-disabled rather than disabled: a disabled button drops the keyboard focus.
  els.stop.setAttribute("aria-disabled", "true");
  els.stop.setAttribute("aria-label", "Stopping");
  // Before answer_start there is no id to stop yet; adoptAnswer() sends it then.
  if (gen.messageId) sendStop(gen);
}

async function sendStop(gen) {
  if (gen.stopSent) return;
  gen.stopSent = true;
  try {
    // The stream itself reports the end, with a done event whose status is "stopped".
    await api("POST", `/api/messages/${enc(gen.messageId)}/stop`);
  } catch (error) {
    gen.stopRequested = false;
    gen.stopSent = false;
    if (state.generation === gen) resetStopButton();
    showNotice(error);
  }
}

// ---------------------------------------------------------------------------------------
// Composer

function setGenerating(on) {
  const focusWasOn = document.activeElement;
  els.send.hidden = on;
  els.stop.hidden = !on;
  resetStopButton();
  if (on && focusWasOn === els.send) els.stop.focus();
  if (!on && focusWasOn === els.stop) els.composer.focus();
  for (const button of els.starters.querySelectorAll("button")) button.disabled = on;
  updateComposer();
}

function resetStopButton() {
  els.stop.removeAttribute("aria-disabled");
  els.stop.setAttribute("aria-label", "Stop generating");
}

function updateComposer() {
  const empty = els.composer.value.trim() === "";
  els.send.disabled = empty || state.sending || Boolean(state.generation);
}

function setComposerText(text) {
  els.composer.value = text;
  fitComposer();
  updateComposer();
}

/**
 * Grows the textarea with its text by setting its rows: the page may not set inline
 * styles, so the height cannot be set directly. CSS caps the height beyond which it scrolls.
 */
function fitComposer() {
  const box = els.composer;
  box.rows = 1;
  const style = getComputedStyle(box);
  const line = parseFloat(style.lineHeight) || 24;
  const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
  const rows = Math.ceil((box.scrollHeight - padding) / line - 0.1);
  box.rows = Math.min(COMPOSER_MAX_ROWS, Math.max(1, rows));
}

function onComposerKey(event) {
  // keyCode 229 is a key taken by an input method editor, as isComposing is in newer browsers.
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) {
    return;
  }
  event.preventDefault();
  if (!els.send.disabled) sendMessage(els.composer.value);
}

// ---------------------------------------------------------------------------------------
// Opening threads

function threadHash(id) {
  return `#/t/${enc(id)}`;
}

function routeThreadId() {
  const match = /^#\/t\/([^/?#]+)$/.exec(location.hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

function onRouteChange() {
  const id = routeThreadId();
  if (id === state.threadId && (id !== null || state.routed)) return;
  state.routed = true;
  if (id) openThread(id);
  else showNewChat();
}

/**
 * A new, empty chat; its thread is created when the first message is sent. `url` says
 * whether a thread's address in the location bar gets a new history entry ("push", for
 * the New chat button) or is overwritten ("replace", for a thread that is gone).
 */
function showNewChat({ url = "replace" } = {}) {
  detachGeneration();
  state.threadId = null;
  state.openCount += 1;
  if (location.hash) {
    const plain = `${location.pathname}${location.search}`;
    if (url === "push") history.pushState(null, "", plain);
    else history.replaceState(null, "", plain);
  }
  els.messages.replaceChildren();
  els.emptyState.hidden = false;
  document.title = "Parasol";
  markCurrentThread();
  closeDrawerAfterChoice();
  focusComposer();
}

async function openThread(id) {
  detachGeneration();
  state.threadId = String(id);
  state.openCount += 1;
  const opened = state.openCount;
  markCurrentThread();
  closeDrawerAfterChoice();
  clearNotice();
  els.emptyState.hidden = true;
  els.messages.replaceChildren();
  els.messages.setAttribute("aria-busy", "true");

  let detail;
  try {
    detail = await api("GET", `/api/threads/${enc(id)}`);
  } catch (error) {
    if (opened !== state.openCount) return;
    if (error instanceof ApiError && error.status === 404) {
      forgetThread(id);
      showNewChat();
      showNotice("That conversation does not exist any more.");
    } else {
      showNotice(error);
    }
    return;
  } finally {
    if (opened === state.openCount) els.messages.removeAttribute("aria-busy");
  }
  if (opened !== state.openCount) return;
  renderThread(detail);
  focusComposer();
}

function renderThread(detail) {
  const thread = detail.thread ?? { id: state.threadId };
  const known = findThread(state.threadId);
  if (known && thread.title !== undefined && known.title !== thread.title) {
    known.title = thread.title;
    renderThreadList();
  }
  document.title = `${threadTitle(thread)} · Parasol`;

  const messages = detail.messages ?? [];
  let last = null;
  for (const message of messages) {
    if (message.role === "user") {
      els.messages.append(userMessageElement(message));
      last = null;
    } else {
      last = new AnswerView(message.id, message.status ?? "complete");
      last.load(message);
      els.messages.append(last.element);
    }
  }
  els.emptyState.hidden = messages.length > 0;
  scrollToBottom();

  if (last?.status === "generating" && last.messageId) resumeAnswer(state.threadId, last);
}

function focusComposer() {
  // On a phone, focusing the composer would pop up the keyboard over what was just opened.
  if (!matchMedia(NARROW_QUERY).matches) els.composer.focus({ preventScroll: true });
}

// ---------------------------------------------------------------------------------------
// Sidebar: the thread list

async function loadThreads(more = false) {
  const params = new URLSearchParams({ limit: String(THREAD_PAGE_SIZE) });
  if (more && state.nextCursor) params.set("cursor", state.nextCursor);
  els.loadMore.disabled = true;
  try {
    const page = await api("GET", `/api/threads?${params}`);
    const fresh = page?.threads ?? [];
    state.threads = more ? mergeThreads(state.threads, fresh) : fresh;
    state.nextCursor = page?.next_cursor ?? null;
    state.threadsFailed = false;
    renderThreadList();
    // The Load more button may have just disappeared: keep the focus in the list.
    if (more && fresh.length) rows.get(String(fresh[0].id))?.link.focus();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showNotice(error);
    state.threadsFailed = true;
    renderThreadList();
  } finally {
    els.loadMore.disabled = false;
  }
}

function mergeThreads(have, fresh) {
  const seen = new Set(have.map((t) => t.id));
  return [...have, ...fresh.filter((t) => !seen.has(t.id))];
}

/** Brings the list in line with state.threads, keeping rows that are being edited. */
function renderThreadList() {
  const wanted = new Set(state.threads.map((t) => String(t.id)));
  for (const [id, row] of rows) {
    if (!wanted.has(id)) {
      row.li.remove();
      rows.delete(id);
    }
  }
  // Rows are moved only when out of order: moving an element takes the focus from it.
  const focused = document.activeElement;
  let next = els.threadList.firstElementChild;
  for (const thread of state.threads) {
    const row = rows.get(String(thread.id)) ?? createThreadRow(thread);
    if (row.mode === "view") updateThreadRow(row, thread);
    if (row.li === next) next = next.nextElementSibling;
    else els.threadList.insertBefore(row.li, next);
  }
  if (focused !== document.activeElement && els.threadList.contains(focused)) focused.focus();
  els.loadMore.hidden = !state.nextCursor;
  let note = "";
  if (state.threadsFailed) note = "Could not load the conversations.";
  else if (state.threads.length === 0) note = "No conversations yet.";
  els.threadsNote.textContent = note;
  els.threadsNote.hidden = !note;
  markCurrentThread();
}

function createThreadRow(thread) {
  const id = String(thread.id);
  const link = el("a", { className: "thread-link", attrs: { href: threadHash(id) } });
  link.addEventListener("click", () => {
    // Choosing the open thread again changes no hash, so close the drawer here too.
    if (routeThreadId() === id) closeDrawerAfterChoice();
  });
  const rename = iconButton("pencil", "Rename");
  const remove = iconButton("trash", "Delete");
  const actions = el("div", { className: "thread-actions" }, [rename, remove]);
  const li = el("li", {
    className: "thread-item",
    attrs: { "data-testid": "thread-item", "data-thread-id": id },
  }, [link, actions]);
  const row = { id, li, link, rename, remove, actions, mode: "view" };
  rename.addEventListener("click", () => startRename(row));
  remove.addEventListener("click", () => confirmDelete(row));
  rows.set(id, row);
  return row;
}

function updateThreadRow(row, thread) {
  const title = threadTitle(thread);
  row.link.textContent = title;
  row.link.title = title;
  row.rename.setAttribute("aria-label", `Rename “${title}”`);
  row.remove.setAttribute("aria-label", `Delete “${title}”`);
}

function markCurrentThread() {
  for (const row of rows.values()) {
    const current = row.id === String(state.threadId);
    row.li.classList.toggle("is-current", current);
    if (current) row.link.setAttribute("aria-current", "page");
    else row.link.removeAttribute("aria-current");
  }
}

function findThread(id) {
  return state.threads.find((t) => String(t.id) === String(id));
}

/** Moves a thread to the top of the list after it has had a new answer. */
function bumpThread(id) {
  const thread = findThread(id);
  if (!thread) return;
  thread.updated_at = Date.now();
  state.threads = [thread, ...state.threads.filter((t) => t !== thread)];
  renderThreadList();
}

function forgetThread(id) {
  state.threads = state.threads.filter((t) => String(t.id) !== String(id));
  renderThreadList();
}

function startRename(row) {
  if (row.mode !== "view") return;
  const thread = findThread(row.id);
  row.mode = "rename";
  const input = el("input", {
    className: "thread-rename",
    attrs: { type: "text", maxlength: 200, "aria-label": "New title", enterkeyhint: "done" },
  });
  input.value = thread?.title ?? "";
  row.link.hidden = true;
  row.actions.hidden = true;
  row.li.prepend(input);

  let settled = false;
  const finish = (save) => {
    if (settled) return;
    settled = true;
    const hadFocus = document.activeElement === input;
    const title = input.value.replace(/\s+/g, " ").trim();
    input.remove(); // fires blur, which the flag above ignores
    row.link.hidden = false;
    row.actions.hidden = false;
    row.mode = "view";
    if (hadFocus) row.rename.focus();
    if (save && title && thread && title !== thread.title) renameThread(thread, title);
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      finish(true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation(); // the drawer closes on Escape too; this one is for the input
      finish(false);
    }
  });
  input.addEventListener("blur", () => finish(true));
  input.focus();
  input.select();
}

async function renameThread(thread, title) {
  const previous = thread.title;
  thread.title = title; // shown at once; put back if the server refuses
  renderThreadList();
  if (String(thread.id) === String(state.threadId)) document.title = `${title} · Parasol`;
  try {
    const updated = await api("PATCH", `/api/threads/${enc(thread.id)}`, { title });
    if (updated?.title !== undefined) thread.title = updated.title;
    announceStatus(`Renamed to ${threadTitle(thread)}.`);
  } catch (error) {
    thread.title = previous;
    showNotice(error);
  }
  renderThreadList();
  if (String(thread.id) === String(state.threadId)) {
    document.title = `${threadTitle(thread)} · Parasol`;
  }
}

/** Asks, inside the row, whether to delete the thread: no modal dialog to escape from. */
function confirmDelete(row) {
  if (row.mode !== "view") return;
  const thread = findThread(row.id);
  row.mode = "confirm";
  const textId = `confirm-delete-${row.id}`;
  const text = el("span", {
    className: "thread-confirm-text",
    text: `Delete “${threadTitle(thread)}”? This cannot be undone.`,
    attrs: { id: textId },
  });
  const yes = textButton("Delete", "text-button danger");
  const no = textButton("Cancel");
  const box = el("div", {
    className: "thread-confirm",
    attrs: { role: "group", "aria-labelledby": textId },
  }, [text, yes, no]);

  const cancel = () => {
    box.remove();
    row.link.hidden = false;
    row.actions.hidden = false;
    row.mode = "view";
    row.remove.focus();
  };
  no.addEventListener("click", cancel);
  yes.addEventListener("click", () => deleteThread(row, yes, cancel));
  box.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.stopPropagation();
    cancel();
  });

  row.link.hidden = true;
  row.actions.hidden = true;
  row.li.append(box);
  no.focus(); // the safe choice has the focus, so a stray Enter deletes nothing
}

async function deleteThread(row, button, cancel) {
  button.disabled = true;
  try {
    await api("DELETE", `/api/threads/${enc(row.id)}`);
  } catch (error) {
    // Already gone is as good as deleted.
    if (!(error instanceof ApiError && error.status === 404)) {
      button.disabled = false;
      cancel();
      showNotice(error);
      return;
    }
  }
  const next = row.li.nextElementSibling ?? row.li.previousElementSibling;
  const wasCurrent = row.id === String(state.threadId);
  row.mode = "view";
  forgetThread(row.id);
  announceStatus("Conversation deleted.");
  if (wasCurrent) showNewChat();
  const nextRow = next && rows.get(next.dataset.threadId);
  (nextRow?.link ?? els.newThread).focus();
}

// ---------------------------------------------------------------------------------------
// Starters

async function loadStarters() {
  try {
    state.starters = (await api("GET", "/api/starters")) ?? [];
  } catch {
    state.starters = []; // the page works without them
  }
  renderStarters();
}

function renderStarters() {
  const items = state.starters.map((starter) => {
    const title = starter.title || starter.message;
    const parts = [el("span", { className: "starter-title", text: title })];
    if (starter.title && starter.message && starter.message !== starter.title) {
      parts.push(el("span", { className: "starter-message", text: starter.message }));
    }
    const button = el("button", {
      className: "starter",
      attrs: { type: "button", "data-testid": "starter", disabled: Boolean(state.generation) },
    }, parts);
    button.addEventListener("click", () => sendMessage(starter.message || starter.title));
    return el("li", {}, [button]);
  });
  els.starters.replaceChildren(...items);
}

// ---------------------------------------------------------------------------------------
// Drawer (narrow screens)

function isNarrow() {
  return matchMedia(NARROW_QUERY).matches;
}

function setDrawer(open) {
  const wasInside = els.sidebar.contains(document.activeElement);
  els.sidebar.classList.toggle("is-open", open);
  els.backdrop.hidden = !open;
  els.toggle.setAttribute("aria-expanded", String(open));
  els.toggle.setAttribute("aria-label", open ? "Hide conversations" : "Show conversations");
  // While the drawer covers the chat, the chat behind it takes no focus or clicks.
  els.chat.inert = open && isNarrow();
  if (open) els.newThread.focus();
  else if (wasInside && isNarrow()) els.toggle.focus();
}

function closeDrawerAfterChoice() {
  if (els.sidebar.classList.contains("is-open")) setDrawer(false);
}

// ---------------------------------------------------------------------------------------
// Start-up

function cacheElements() {
  const byId = (id) => document.getElementById(id);
  Object.assign(els, {
    toggle: byId("sidebar-toggle"),
    userName: byId("user-name"),
    sidebar: byId("sidebar"),
    backdrop: byId("backdrop"),
    newThread: byId("new-thread"),
    threadList: byId("thread-list"),
    threadsNote: byId("threads-note"),
    loadMore: byId("load-more"),
    chat: byId("chat"),
    scroller: byId("scroller"),
    emptyState: byId("empty-state"),
    starters: byId("starters"),
    messages: byId("messages"),
    notice: byId("notice"),
    noticeText: byId("notice-text"),
    noticeClose: byId("notice-close"),
    form: byId("composer-form"),
    composer: byId("composer"),
    send: byId("send"),
    stop: byId("stop"),
    answerLive: byId("answer-live"),
    statusLive: byId("status-live"),
    skipLink: document.querySelector(".skip-link"),
  });
}

function bindEvents() {
  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage(els.composer.value);
  });
  els.composer.addEventListener("keydown", onComposerKey);
  els.composer.addEventListener("input", () => {
    fitComposer();
    updateComposer();
  });
  els.stop.addEventListener("click", requestStop);
  els.newThread.addEventListener("click", () => showNewChat({ url: "push" }));
  els.loadMore.addEventListener("click", () => loadThreads(true));
  els.noticeClose.addEventListener("click", () => {
    clearNotice();
    els.composer.focus();
  });
  els.toggle.addEventListener("click", () => setDrawer(!els.sidebar.classList.contains("is-open")));
  els.backdrop.addEventListener("click", () => setDrawer(false));
  // The skip link's own #composer would be taken for a route, so it moves focus itself.
  els.skipLink.addEventListener("click", (event) => {
    event.preventDefault();
    els.composer.focus();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && els.sidebar.classList.contains("is-open")) setDrawer(false);
  });
  matchMedia(NARROW_QUERY).addEventListener("change", () => setDrawer(false));
  els.scroller.addEventListener("scroll", () => {
    state.stickToBottom = isNearBottom();
  }, { passive: true });

  window.addEventListener("hashchange", onRouteChange);
  window.addEventListener("popstate", onRouteChange);
}

/** `?thread=<id>` links are accepted too, and turned into the `#/t/<id>` form. */
function acceptQueryLink() {
  const params = new URLSearchParams(location.search);
  const id = params.get("thread");
  if (!id) return;
  params.delete("thread");
  const search = params.toString();
  const url = `${location.pathname}${search ? `?${search}` : ""}${location.hash || threadHash(id)}`;
  history.replaceState(null, "", url);
}

async function loadMe() {
  const me = await api("GET", "/api/me");
  const name = me?.name || me?.email || me?.subject || "";
  els.userName.textContent = name;
  if (me?.email && me.email !== name) els.userName.title = me.email;
}

async function start() {
  cacheElements();
  announcer = new Announcer(els.answerLive);
  bindEvents();
  acceptQueryLink();
  fitComposer();
  updateComposer();

  try {
    await loadMe();
  } catch (error) {
    showNotice(error);
    if (error instanceof ApiError && error.status === 401) return;
  }
  loadStarters();
  loadThreads();
  onRouteChange();
}

start();
