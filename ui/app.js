// The review page: a hash router over the views. Every view renders into <main> and returns
// a cleanup function (stops its polling, frees its thumbnails) called when the view changes.

import { credential, signOut } from "/api/ui/api.js";
import { fill, h, say } from "/api/ui/dom.js";
import { renderJob } from "/api/ui/job.js";
import { renderJobs } from "/api/ui/jobs.js";
import { renderSignIn } from "/api/ui/signin.js";

const main = document.getElementById("main");
let cleanup = () => {};

/** "#/jobs/ID/images?label=cat" -> {parts: ["jobs", "ID", "images"], params: {label: "cat"}} */
export function parseHash(hash) {
  const [path, search] = (hash.replace(/^#/, "") || "/").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: Object.fromEntries(new URLSearchParams(search || "")) };
}

function renderAccount() {
  const nav = document.getElementById("account");
  if (!credential()) {
    fill(nav);
    return;
  }
  fill(
    nav,
    h("a", { href: "#/" }, "Jobs"),
    h("button", {
      type: "button",
      class: "link",
      on: {
        click: () => {
          signOut();
          say("Signed out: the credential is forgotten.");
          route();
        },
      },
    }, "Sign out"),
  );
}

async function route() {
  cleanup();
  cleanup = () => {};
  renderAccount();
  const { parts, params } = parseHash(location.hash);
  main.replaceChildren();
  if (!credential()) {
    cleanup = renderSignIn(main, () => route()) || (() => {});
    return;
  }
  try {
    if (parts[0] === "jobs" && parts[1]) {
      cleanup = (await renderJob(main, parts[1], parts[2] || "images", params)) || (() => {});
    } else {
      cleanup = (await renderJobs(main)) || (() => {});
    }
  } catch (error) {
    say(error.message, "error");
    main.append(h("p", { class: "error" }, `Could not load this view: ${error.message}`));
  }
}

window.addEventListener("hashchange", () => {
  route();
  main.focus({ preventScroll: false });
});
window.addEventListener("pixcrawler:unauthorized", () => {
  say("The API refused the credential (401): sign in again.", "error");
});
route();
