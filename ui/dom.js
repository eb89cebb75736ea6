// Building the page from data without ever parsing data as HTML.

/**
 * An element: h("a", {href: "#/", class: "x", on: {click: f}}, "text", child).
 * Attribute values and text children are set as text, never as markup.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (name === "class") {
      node.className = value;
    } else if (name === "style") {
      Object.assign(node.style, value); // CSSOM: allowed by the page's CSP, unlike style=""
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else if (name in node && typeof node[name] !== "function" && !name.startsWith("aria-")) {
      node[name] = value;
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return isNaN(date) ? iso : date.toLocaleString();
}

/** Say something in the page's live region (read out by screen readers). */
export function say(text, kind = "info") {
  const status = document.getElementById("status");
  status.className = `status ${kind}`;
  status.textContent = text;
}

/**
 * Continuation paging: `fetchPage(token)` returns {items, continuation}; `show(page, index)`
 * draws it. Returns the Previous / Next buttons (`element`), `load()` for the current page,
 * `info` (a live text) and `stop()`.
 */
export function pager(fetchPage, show, { previous = "Previous page", next = "Next page" } = {}) {
  const tokens = [null];
  let index = 0;
  let stopped = false;
  const back = h("button", { type: "button", disabled: true }, previous);
  const forward = h("button", { type: "button", disabled: true }, next);
  const info = h("span", { class: "page-info", "aria-live": "polite" });
  async function load() {
    const page = await fetchPage(tokens[index] || undefined);
    if (stopped) return;
    tokens[index + 1] = page.continuation;
    show(page, index);
    back.disabled = index === 0;
    forward.disabled = !page.continuation;
  }
  back.addEventListener("click", () => { index -= 1; load(); });
  forward.addEventListener("click", () => { index += 1; load(); });
  return {
    element: h("div", { class: "pager" }, back, info, forward),
    info,
    load,
    stop: () => { stopped = true; },
    get index() { return index; },
  };
}
