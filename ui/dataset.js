// Build a dataset from the job with the options the API offers, watch it, download it.

import { enc, get, post } from "/api/ui/api.js";
import { bytes, fill, h, say, when } from "/api/ui/dom.js";

const POLL_MS = 2000;

function number(id, label, value) {
  return [h("label", { for: id }, label),
    h("input", { id, name: id, type: "number", min: "0", max: "1", step: "0.05", value: String(value), required: true })];
}

function datasetRow(dataset) {
  const counts = Object.entries(dataset.counts.per_label || {}).map(([l, n]) => `${l} ${n}`).join(", ");
  const download = h("button", {
    type: "button", class: "primary", disabled: dataset.status !== "ready",
    on: {
      click: async () => {
        try {
          const link = await get(`datasets/${enc(dataset.id)}/download`);
          say(`Downloading ${dataset.name} (${bytes(link.size_bytes)}, sha256 ${link.sha256.slice(0, 12)}…).`);
          location.assign(link.url);
        } catch (e) {
          say(`Download failed: ${e.message}`, "error");
        }
      },
    },
  }, "Download");
  return h("tr", { dataset: { id: dataset.id } },
    h("td", { "data-label": "Dataset" }, dataset.name),
    h("td", { "data-label": "Status" }, h("span", { class: `badge ${dataset.status}` }, dataset.status),
      dataset.error ? h("span", { class: "error" }, ` ${dataset.error}`) : null),
    h("td", { "data-label": "Images" }, `${dataset.counts.total}${counts ? ` (${counts})` : ""}`),
    h("td", { "data-label": "Size" }, bytes(dataset.size_bytes)),
    h("td", { "data-label": "Created" }, when(dataset.created_at)),
    h("td", { "data-label": "" }, download));
}

export async function renderDataset(box, job) {
  const summary = await get(`jobs/${enc(job.id)}/curation`);
  const name = h("input", { id: "ds-name", name: "name", required: true, value: job.name, maxlength: "200" });
  const duplicates = h("input", { id: "ds-duplicates", type: "checkbox" });
  const level = h("select", { id: "ds-level" }, ["fast", "medium", "slow"].map((l) => h("option", { value: l }, l)));
  const error = h("p", { class: "error", role: "alert" });
  const body = h("tbody");
  let timer = null;
  let stopped = false;

  async function list() {
    clearTimeout(timer);
    const page = await get("datasets", { limit: 100 });
    if (stopped) return;
    const mine = page.items.filter((d) => d.job_id === job.id);
    fill(body, mine.map(datasetRow));
    if (!mine.length) body.append(h("tr", {}, h("td", { colspan: 6 }, "No dataset built from this job yet.")));
    if (mine.some((d) => d.status === "pending" || d.status === "building")) {
      timer = setTimeout(() => list().catch(() => {}), POLL_MS);
    }
  }

  const form = h("form", { class: "card", id: "dataset-form", novalidate: true, "aria-labelledby": "build-title" },
    h("h3", { id: "build-title" }, "Build a dataset"),
    h("p", { class: "help" }, "A default build packs now: ",
      Object.entries(summary.kept).map(([l, n]) => `${l} ${n}`).join(", ") || "nothing",
      `. Excluded images (${summary.excluded}) stay out; moved images (${summary.relabelled}) go under their new label.`),
    h("label", { for: "ds-name" }, "Name"), name,
    h("fieldset", { class: "splits" }, h("legend", {}, "Splits (fractions adding up to 1)"),
      number("ds-train", "train", 0.8), number("ds-val", "val", 0.1), number("ds-test", "test", 0.1)),
    h("label", { for: "ds-duplicates", class: "inline" }, duplicates, " Include near-duplicates"),
    h("label", { for: "ds-level" }, "Only images validated at least at level"), level,
    error,
    h("button", { type: "submit", class: "primary", disabled: job.status !== "completed" }, "Build dataset"),
    job.status === "completed" ? null : h("p", { class: "help" }, "Datasets are built from completed jobs."));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const splits = {};
    for (const split of ["train", "val", "test"]) {
      const value = Number(form.querySelector(`#ds-${split}`).value);
      if (value > 0) splits[split] = value;
    }
    try {
      const dataset = await post("datasets", {
        job_id: job.id, name: name.value.trim(), splits, include_duplicates: duplicates.checked, min_level: level.value,
      });
      say(`Dataset ${dataset.name} is being built.`);
      await list();
    } catch (e) {
      error.textContent = e.message;
    }
  });

  box.append(
    h("h2", {}, "Dataset"),
    form,
    h("h3", {}, "Datasets of this job"),
    h("table", { class: "list", id: "datasets" },
      h("caption", { class: "sr-only" }, "Datasets built from this job"),
      h("thead", {}, h("tr", {}, ["Dataset", "Status", "Images", "Size", "Created", "Download"].map((t) => h("th", { scope: "col" }, t)))),
      body),
  );
  await list();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
