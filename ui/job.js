// One job: live progress (chunks, images, images/s, ETA, failures by reason), the start /
// cancel / retry / resume buttons, and its tabs (images, near-duplicates, failures, dataset).

import { ApiError, enc, get, post } from "/api/ui/api.js";
import { duration, fill, h, say } from "/api/ui/dom.js";
import { renderDataset } from "/api/ui/dataset.js";
import { renderDuplicates } from "/api/ui/duplicates.js";
import { renderFailures } from "/api/ui/failures.js";
import { renderImages } from "/api/ui/images.js";

const POLL_MS = 2000;
const TABS = [
  ["images", "Images", renderImages],
  ["duplicates", "Near-duplicates", renderDuplicates],
  ["failures", "Failures", renderFailures],
  ["dataset", "Dataset", renderDataset],
];
const ACTIONS = [
  ["start", "Start", ["pending"]],
  ["cancel", "Cancel", ["pending", "running"]],
  ["retry", "Retry", ["failed", "cancelled"]],
  ["resume", "Resume", ["failed", "cancelled"]],
];

/** Images per second and the time left, from the progress counters (the service's estimate
 * of completion when it gives one). */
export function rates(progress, now = Date.now()) {
  const started = progress.started_at ? Date.parse(progress.started_at) : null;
  const finished = progress.status !== "running" && progress.updated_at ? Date.parse(progress.updated_at) : now;
  const elapsed = started ? Math.max((finished - started) / 1000, 0.001) : null;
  const perSecond = elapsed ? progress.stored_images / elapsed : null;
  const done = progress.progress / 100;
  let eta = null;
  if (progress.status === "running" && progress.estimated_completion) {
    eta = Math.max(0, (Date.parse(progress.estimated_completion) - now) / 1000);
  } else if (progress.status === "running" && elapsed && done > 0 && done < 1) {
    eta = (elapsed * (1 - done)) / done;
  }
  return { elapsed, perSecond, eta };
}

function stat(label, value, id) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", { id }, value));
}

function failureChart(byReason) {
  const entries = Object.entries(byReason || {}).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return h("p", { class: "help" }, "No failures.");
  const most = entries[0][1];
  return h("ul", { class: "bars", "aria-label": "Failures by reason" },
    entries.map(([reason, count]) => h("li", {},
      h("span", { class: "bar-label" }, reason),
      h("span", { class: "bar", "aria-hidden": "true" },
        h("span", { class: "bar-fill", style: { width: `${Math.max(2, (100 * count) / most)}%` } })),
      h("span", { class: "bar-count" }, String(count)))));
}

function progressView(p) {
  const { perSecond, eta } = rates(p);
  return [
    h("div", { class: "meter", role: "progressbar", "aria-label": "Chunks done",
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(p.progress)) },
    h("span", { class: "meter-fill", style: { width: `${p.progress}%` } })),
    h("dl", { class: "stats" },
      stat("Status", `${p.status} (${p.phase})`, "job-status"),
      stat("Chunks", `${p.completed_chunks} of ${p.total_chunks} done, ${p.active_chunks} active, ${p.failed_chunks} failed`, "job-chunks"),
      stat("Images stored", String(p.stored_images), "job-images"),
      stat("Valid after checks", String(p.valid_images), "job-valid"),
      stat("Downloaded", String(p.downloaded_images)),
      stat("Exact duplicates", String(p.duplicate_images)),
      stat("Images/s", perSecond === null ? "—" : perSecond.toFixed(1), "job-rate"),
      stat("Time left", eta === null ? "—" : `about ${duration(eta)}`, "job-eta"),
      stat("Failures", String(p.failed_downloads)),
    ),
    h("h3", {}, "Failures by reason"),
    failureChart(p.failed_by_reason),
  ];
}

export async function renderJob(main, jobId, tab, params) {
  let job = await get(`jobs/${enc(jobId)}`);
  const progressBox = h("section", { class: "card", "aria-labelledby": "progress-title", id: "progress" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Job actions" });
  const title = h("h1", {}, job.name);
  const tabBox = h("section", { id: "tab", "aria-live": "off" });
  const current = TABS.find(([key]) => key === tab) || TABS[0];
  main.append(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Jobs"), " / ", job.name),
    title,
    h("p", { class: "help" }, `Job ${job.id}`),
    progressBox,
    actions,
    h("nav", { class: "tabs", "aria-label": "Job views" },
      TABS.map(([key, label]) => h("a", {
        href: `#/jobs/${enc(job.id)}/${key}`,
        "aria-current": key === current[0] ? "page" : undefined,
      }, label))),
    tabBox,
  );

  let timer = null;
  let stopped = false;
  let last = null;
  let tabCleanup = () => {};

  function renderActions() {
    fill(actions, ACTIONS.map(([verb, label, allowed]) => h("button", {
      type: "button",
      id: `job-${verb}`,
      disabled: !allowed.includes(job.status),
      on: { click: () => act(verb, label) },
    }, label)));
  }

  async function act(verb, label) {
    try {
      const answer = await post(`jobs/${enc(job.id)}/${verb}`);
      say(answer && answer.message ? answer.message : `${label}: done.`);
    } catch (e) {
      say(`${label} failed: ${e.message}`, "error");
    }
    await refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    const before = last && `${last.stored_images}/${last.phase}`;
    try {
      [job, last] = await Promise.all([get(`jobs/${enc(job.id)}`), get(`jobs/${enc(job.id)}/progress`)]);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      say(`Progress: ${e.message}`, "error");
    }
    if (stopped) return;
    if (last) {
      fill(progressBox, h("h2", { id: "progress-title" }, "Progress"), progressView(last));
      if (before !== null && before !== `${last.stored_images}/${last.phase}` && tabCleanup.onProgress) {
        tabCleanup.onProgress(); // new images or a new phase: let the tab show them
      }
    }
    renderActions();
    const validating = job.status === "completed" && last && last.phase !== "done";
    if (job.status === "running" || job.status === "pending" || validating) {
      timer = setTimeout(() => refresh().catch(() => {}), POLL_MS);
    }
  }

  await refresh();
  tabCleanup = (await current[2](tabBox, job, params)) || (() => {});
  return () => {
    stopped = true;
    clearTimeout(timer);
    tabCleanup();
  };
}
