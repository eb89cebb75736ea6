// The job's download failures with their URLs, by reason, paged.

import { enc, get } from "/api/ui/api.js";
import { fill, h, pager } from "/api/ui/dom.js";

const PAGE = 50;

function urlCell(url) {
  return /^https?:\/\//i.test(url)
    ? h("a", { href: url, rel: "noopener noreferrer nofollow", target: "_blank" }, url)
    : url;
}

export async function renderFailures(box, job, params) {
  const progress = await get(`jobs/${enc(job.id)}/progress`);
  const reasons = Object.keys(progress.failed_by_reason || {}).sort();
  const reason = reasons.includes(params.reason) ? params.reason : "";
  const select = h("select", {
    id: "reason",
    on: { change: () => { location.hash = `#/jobs/${enc(job.id)}/failures${select.value ? `?reason=${enc(select.value)}` : ""}`; } },
  },
  h("option", { value: "" }, "All reasons"),
  reasons.map((r) => h("option", { value: r, selected: r === reason }, `${r} (${progress.failed_by_reason[r]})`)));
  const body = h("tbody");
  const pages = pager(
    (continuation) => get(`jobs/${enc(job.id)}/failures`, { reason: reason || undefined, limit: PAGE, continuation }),
    (page) => {
      fill(body, page.items.map((f) => h("tr", {},
        h("td", { "data-label": "Reason" }, f.reason),
        h("td", { "data-label": "URL", class: "url" }, urlCell(f.url)),
        h("td", { "data-label": "Message" }, f.message || "—"),
        h("td", { "data-label": "Label" }, f.label),
        h("td", { "data-label": "Source" }, f.source))));
      if (!page.items.length) body.append(h("tr", {}, h("td", { colspan: 5 }, "No failures stored on this page.")));
    },
  );

  box.append(
    h("h2", {}, "Failures"),
    h("div", { class: "filters" }, h("label", { for: "reason" }, "Reason "), select),
    h("table", { class: "list", id: "failures" },
      h("caption", { class: "sr-only" }, "Download failures"),
      h("thead", {}, h("tr", {}, ["Reason", "URL", "Message", "Label", "Source"].map((t) => h("th", { scope: "col" }, t)))),
      body),
    pages.element,
  );
  await pages.load();
  return () => pages.stop();
}
