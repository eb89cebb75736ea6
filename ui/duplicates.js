// Near-duplicate groups, each opened to show the kept copy and its duplicates side by side.

import { enc, get } from "/api/ui/api.js";
import { fill, h, pager } from "/api/ui/dom.js";
import { Thumbnails, imageCard, jobLabels, roving } from "/api/ui/card.js";

export async function renderDuplicates(box, job) {
  const thumbs = new Thumbnails(job.id);
  const ctx = { job, labels: jobLabels(job), thumbs };
  const list = h("div", { class: "groups", id: "groups" });

  function group(g) {
    const row = h("ul", { class: "grid group-row", "aria-label": `Kept image and ${g.size} near-duplicates` });
    const details = h("details", { class: "group card", dataset: { kept: g.kept.id } },
      h("summary", {}, `${g.kept.label}: kept ${g.kept.id.slice(0, 8)} with ${g.size} near-duplicate${g.size === 1 ? "" : "s"}`),
      row);
    details.addEventListener("toggle", () => {
      if (!details.open || row.childElementCount) return;
      fill(row, imageCard(g.kept, ctx, { kept: true }), g.duplicates.map((d) => imageCard(d, ctx)));
      if (g.size > g.duplicates.length) {
        row.append(h("li", { class: "empty" }, `and ${g.size - g.duplicates.length} more`));
      }
      roving(row);
    });
    return details;
  }

  const pages = pager(
    (continuation) => get(`jobs/${enc(job.id)}/duplicates`, { limit: 10, continuation }),
    (page) => {
      fill(list, page.items.map(group));
      if (!page.items.length) {
        list.append(h("p", { class: "help" },
          "No near-duplicate groups: they are found when the job is validated at level medium or slow."));
      }
    },
    { previous: "Previous groups", next: "Next groups" },
  );

  box.append(
    h("h2", {}, "Near-duplicates"),
    h("p", { class: "help" }, "Each group is an image kept by near-duplicate detection and the copies flagged as its ",
      "near-duplicates. Datasets leave the flagged copies out unless they include duplicates."),
    list,
    pages.element,
  );
  await pages.load();
  return () => {
    pages.stop();
    thumbs.close();
  };
}
