// A job's images, one label at a time, as a paged grid of thumbnails with curation buttons.

import { enc, get } from "/api/ui/api.js";
import { fill, h, pager } from "/api/ui/dom.js";
import { Thumbnails, imageCard, jobLabels, resetRoving, roving } from "/api/ui/card.js";

const PAGE = 24;
export const STATES = [
  ["all", "All images"],
  ["kept", "Kept for the dataset"],
  ["excluded", "Excluded"],
  ["duplicate", "Near-duplicates"],
  ["invalid", "Failed a check"],
  ["relabelled", "Moved to another label"],
];

export function summaryLine(summary) {
  return `Stored: ${summary.images}. Excluded: ${summary.excluded}. Moved: ${summary.relabelled}. ` +
    `Near-duplicates: ${summary.duplicates}. Failed a check: ${summary.invalid}.`;
}

export async function renderImages(box, job, params) {
  const labels = jobLabels(job);
  const label = labels.includes(params.label) ? params.label : labels[0];
  const state = STATES.some(([key]) => key === params.state) ? params.state : "all";
  const thumbs = new Thumbnails(job.id);
  const base = `#/jobs/${enc(job.id)}/images`;
  const link = (l, s) => `${base}?label=${enc(l)}&state=${enc(s)}`;

  const labelNav = h("nav", { class: "tabs labels", "aria-label": "Labels" });
  const summaryText = h("p", { class: "help", id: "curation-summary" });
  const grid = h("ul", { class: "grid", id: "image-grid", "aria-label": `Images labelled ${label}` });
  const stateSelect = h("select", { id: "state", on: { change: () => { location.hash = link(label, stateSelect.value); } } },
    STATES.map(([key, text]) => h("option", { value: key, selected: key === state }, text)));

  async function refreshSummary() {
    const summary = await get(`jobs/${enc(job.id)}/curation`);
    fill(labelNav, labels.map((l) => h("a", {
      href: link(l, state), "aria-current": l === label ? "page" : undefined,
    }, `${l} (${summary.kept[l] ?? 0} kept)`)));
    summaryText.textContent = summaryLine(summary);
  }

  const ctx = { job, labels, thumbs, onChange: () => refreshSummary().catch(() => {}) };
  const pages = pager(
    (continuation) => get(`jobs/${enc(job.id)}/images`, { label, state, limit: PAGE, continuation }),
    (page, index) => {
      fill(grid, page.items.map((image) => imageCard(image, ctx)));
      if (!page.items.length) grid.append(h("li", { class: "empty" }, "No images here."));
      resetRoving(grid);
      pages.info.textContent = `Page ${index + 1}, ${page.items.length} images`;
    },
  );

  box.append(
    h("h2", {}, "Images"),
    summaryText,
    labelNav,
    h("div", { class: "filters" }, h("label", { for: "state" }, "Show "), stateSelect),
    h("p", { class: "help" }, "Arrow keys move between images; X excludes or includes the image in focus; ",
      "Tab reaches its buttons. Excluded images and moves are stored on the image and honoured by every dataset build."),
    grid,
    pages.element,
  );
  roving(grid);
  await Promise.all([refreshSummary(), pages.load()]);
  const cleanup = () => {
    pages.stop();
    thumbs.close();
  };
  // While the job runs: keep the counts current, and fill a first page that was empty.
  cleanup.onProgress = () => {
    refreshSummary().catch(() => {});
    if (pages.index === 0 && !grid.querySelector("li.card")) pages.load().catch(() => {});
  };
  return cleanup;
}
