// The caller's jobs, newest first, refreshed while any of them runs.

import { enc, get } from "/api/ui/api.js";
import { fill, h, when } from "/api/ui/dom.js";

const POLL_MS = 3000;

function labels(job) {
  const fromSources = (job.sources || []).map((s) => s.label).filter(Boolean);
  return [...new Set([...(job.keywords || []), ...fromSources])].join(", ");
}

function row(job) {
  return h("tr", {},
    h("td", { "data-label": "Job" }, h("a", { href: `#/jobs/${enc(job.id)}` }, job.name)),
    h("td", { "data-label": "Status" }, h("span", { class: `badge ${job.status}` }, job.status)),
    h("td", { "data-label": "Labels" }, labels(job) || "—"),
    h("td", { "data-label": "Chunks" }, String(job.total_chunks ?? "—")),
    h("td", { "data-label": "Created" }, when(job.created_at)),
  );
}

export async function renderJobs(main) {
  const body = h("tbody");
  const empty = h("p", { class: "help", hidden: true },
    "No jobs yet: create one with POST /api/v1/jobs or pixcrawler.jobs.create(...).");
  main.append(
    h("h1", {}, "Your jobs"),
    h("table", { class: "list", id: "jobs" },
      h("caption", { class: "sr-only" }, "Your jobs, newest first"),
      h("thead", {}, h("tr", {}, ["Job", "Status", "Labels", "Chunks", "Created"].map((t) => h("th", { scope: "col" }, t)))),
      body),
    empty,
  );
  let timer = null;
  let stopped = false;
  async function load() {
    const page = await get("jobs", { limit: 50 });
    if (stopped) return;
    fill(body, page.items.map(row));
    empty.hidden = page.items.length > 0;
    if (page.items.some((j) => j.status === "running" || j.status === "pending")) {
      timer = setTimeout(() => load().catch(() => {}), POLL_MS);
    }
  }
  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
