// One image as a card (thumbnail, source, license, size, flags, curation buttons), the
// thumbnails' loader, and keyboard movement between the cards of a grid.

import { enc, patch, thumbnailUrl } from "/api/ui/api.js";
import { bytes, h, say } from "/api/ui/dom.js";

/** The job's labels: its keywords, then the labels of its `urls` sources. */
export function jobLabels(job) {
  const fromSources = (job.sources || []).map((s) => s.label).filter(Boolean);
  return [...new Set([...(job.keywords || []), ...fromSources])];
}

export function altText(image) {
  return `${image.label} image from ${image.source}${image.title ? `: ${image.title}` : ""}`;
}

/** Loads thumbnails a few at a time and frees them when the view goes away. */
export class Thumbnails {
  constructor(jobId, parallel = 6) {
    this.jobId = jobId;
    this.parallel = parallel;
    this.urls = new Map();
    this.queue = [];
    this.running = 0;
    this.closed = false;
  }

  show(img, imageId) {
    const known = this.urls.get(imageId);
    if (known) {
      img.src = known;
      return;
    }
    this.queue.push([img, imageId]);
    this.pump();
  }

  pump() {
    while (!this.closed && this.running < this.parallel && this.queue.length) {
      const [img, imageId] = this.queue.shift();
      this.running += 1;
      thumbnailUrl(this.jobId, imageId)
        .then((url) => {
          if (this.closed) {
            URL.revokeObjectURL(url);
            return;
          }
          this.urls.set(imageId, url);
          img.src = url;
        })
        .catch(() => img.classList.add("broken"))
        .finally(() => {
          this.running -= 1;
          this.pump();
        });
    }
  }

  close() {
    this.closed = true;
    this.queue = [];
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
  }
}

function host(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function safeLink(url, text) {
  return /^https?:\/\//i.test(url || "")
    ? h("a", { href: url, rel: "noopener noreferrer nofollow", target: "_blank" }, text)
    : text;
}

function flags(image, kept) {
  const items = [];
  if (kept) items.push(h("li", { class: "flag kept" }, "Kept copy"));
  if (image.excluded) items.push(h("li", { class: "flag excluded" }, "Excluded"));
  if (image.curated_label) items.push(h("li", { class: "flag moved" }, `Moved from ${image.original_label}`));
  if (image.is_duplicate) items.push(h("li", { class: "flag duplicate" }, `Near-duplicate of ${image.duplicate_of.slice(0, 8)}`));
  // "unique" fails for every near-duplicate: said above; the others are quality flags.
  for (const check of image.flags.filter((c) => c !== "unique")) {
    items.push(h("li", { class: "flag check" }, `Failed: ${check}`));
  }
  return items.length ? h("ul", { class: "flags", "aria-label": "Flags" }, items) : null;
}

/**
 * A card for `image`. ctx: {job, labels, thumbs, onChange(updated)}; options.kept marks the
 * kept copy of a near-duplicate group.
 */
export function imageCard(image, ctx, options = {}) {
  const img = h("img", {
    alt: altText(image), width: 160, height: 160, class: "thumb", decoding: "async",
  });
  ctx.thumbs.show(img, image.id);
  const targets = ctx.labels.filter((label) => label !== image.label);
  const select = h("select", { "aria-label": `New label for ${altText(image)}` },
    targets.map((label) => h("option", { value: label }, label)));
  const excludeButton = h("button", {
    type: "button",
    class: "exclude",
    "aria-pressed": image.excluded ? "true" : "false",
    on: { click: () => change({ excluded: !image.excluded }) },
  }, image.excluded ? "Include" : "Exclude");
  const moveButton = h("button", {
    type: "button", class: "move", disabled: targets.length === 0,
    on: { click: () => change({ label: select.value }) },
  }, "Move");

  async function change(body) {
    try {
      const updated = await patch(`jobs/${enc(image.job_id)}/images/${enc(image.id)}`, body);
      say(body.label !== undefined
        ? `Image ${image.id.slice(0, 8)} moved to ${updated.label}.`
        : `Image ${image.id.slice(0, 8)} ${updated.excluded ? "excluded from" : "included in"} datasets.`);
      const next = imageCard(updated, ctx, options);
      const focusMove = body.label !== undefined;
      card.replaceWith(next);
      (focusMove ? next.querySelector("button.move") : next.querySelector("button.exclude")).focus();
      if (ctx.onChange) ctx.onChange(updated);
    } catch (e) {
      say(`Could not change image ${image.id.slice(0, 8)}: ${e.message}`, "error");
    }
  }

  const card = h("li", {
    class: `card image${image.excluded ? " is-excluded" : ""}${options.kept ? " is-kept" : ""}`,
    tabindex: "-1",
    dataset: { id: image.id, label: image.label },
    "aria-label": altText(image),
    on: {
      keydown: (event) => {
        if (event.target === card && (event.key === "x" || event.key === "X")) {
          event.preventDefault();
          change({ excluded: !image.excluded });
        }
      },
    },
  },
  h("figure", {}, img,
    h("figcaption", {}, h("strong", {}, image.label), " · ", `${image.width}×${image.height}`)),
  h("dl", { class: "meta" },
    h("dt", {}, "Source"), h("dd", {}, safeLink(image.page_url || image.url, `${image.source} (${host(image.page_url || image.url)})`)),
    h("dt", {}, "License"), h("dd", {}, image.license || "unknown"),
    h("dt", {}, "Size"), h("dd", {}, `${bytes(image.bytes)} ${image.format}`)),
  flags(image, options.kept),
  h("div", { class: "card-actions" }, excludeButton,
    h("span", { class: "move-to" }, select, moveButton)));
  return card;
}

/** Arrow keys, Home and End move the focus between the cards of `grid` (one tab stop). */
export function roving(grid) {
  function cards() {
    return [...grid.querySelectorAll(":scope > li.card")];
  }
  function columns(all) {
    if (!all.length) return 1;
    const top = all[0].offsetTop;
    const n = all.findIndex((c) => c.offsetTop !== top);
    return n === -1 ? all.length : n;
  }
  function focusAt(all, index) {
    const target = all[Math.max(0, Math.min(all.length - 1, index))];
    if (!target) return;
    for (const c of all) c.tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
  }
  grid.addEventListener("keydown", (event) => {
    const all = cards();
    const index = all.indexOf(event.target);
    if (index === -1) return;
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(all), ArrowUp: -columns(all) }[event.key];
    if (step !== undefined) {
      event.preventDefault();
      focusAt(all, index + step);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      focusAt(all, event.key === "Home" ? 0 : all.length - 1);
    }
  });
  grid.addEventListener("focusin", (event) => {
    const card = event.target.closest && event.target.closest("li.card");
    if (!card || card.parentElement !== grid) return;
    for (const c of cards()) c.tabIndex = c === card ? 0 : -1;
  });
  const first = cards()[0];
  if (first) first.tabIndex = 0;
}

/** Make the first card of a (re)filled grid its tab stop. */
export function resetRoving(grid) {
  const all = [...grid.querySelectorAll(":scope > li.card")];
  all.forEach((c, i) => { c.tabIndex = i === 0 ? 0 : -1; });
}
