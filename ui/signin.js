// Sign-in: an API key or a bearer token, kept in this tab's sessionStorage only.

import { ApiError, get, signIn, signOut } from "/api/ui/api.js";
import { h, say } from "/api/ui/dom.js";

export function renderSignIn(main, done) {
  const secret = h("input", {
    id: "secret", name: "secret", type: "password", autocomplete: "off", required: true,
    spellcheck: false, "aria-describedby": "secret-help",
  });
  const kindKey = h("input", { type: "radio", name: "kind", id: "kind-key", value: "key", checked: true });
  const kindToken = h("input", { type: "radio", name: "kind", id: "kind-token", value: "token" });
  const error = h("p", { class: "error", id: "signin-error", role: "alert" });
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "signin-title", novalidate: true },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("fieldset", {},
      h("legend", {}, "Credential"),
      h("label", { for: "kind-key" }, kindKey, " API key (X-API-Key)"),
      h("label", { for: "kind-token" }, kindToken, " Bearer token (JWT)"),
    ),
    h("label", { for: "secret" }, "Key or token"),
    secret,
    h("p", { id: "secret-help", class: "help" },
      "Kept for this browser tab only (sessionStorage): closing the tab or signing out forgets it. ",
      "Every call goes to the API with your rights. Locally: scripts/dev-token alice."),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const value = secret.value.trim();
    if (!value) {
      error.textContent = "Enter an API key or a token.";
      secret.focus();
      return;
    }
    signIn(kindToken.checked ? "token" : "key", value);
    try {
      await get("jobs", { limit: 1 });
    } catch (e) {
      signOut();
      error.textContent = e instanceof ApiError && e.status === 401
        ? `Not accepted: ${e.message}`
        : `Could not check the credential: ${e.message}`;
      secret.focus();
      return;
    }
    say("Signed in.");
    done();
  });
  main.append(form);
  secret.focus();
}
