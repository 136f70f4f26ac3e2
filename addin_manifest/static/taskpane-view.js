/*
 * Drawing the task pane from its state. Pure DOM building, no templates with markup strings:
 * every CRM value goes in as text, so a contact named "<img onerror=…>" stays a name.
 *
 * Buttons carry data-action and data-target ("kind:id") so the controller (and the browser
 * tests) find them by meaning, not by position.
 */

const KIND_LABEL = { account: "Account", contact: "Contact", opportunity: "Opportunity" };
const ROLE_LABEL = {
  from: "From",
  to: "To",
  cc: "Cc",
  organizer: "Organizer",
  required: "Required",
  optional: "Optional",
};

/** h("p", {class: "x"}, "text", child) → element. */
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export const targetKey = (kind, id) => `${kind}:${id}`;

/** A message being written keeps its links on the item until it is sent (taskpane-item.js). */
export const usesPending = (item) => item.mode === "compose" && item.kind === "message";

function badge(text, extra) {
  return h("span", { class: `badge ${extra || ""}`.trim() }, text);
}

function row(attributes, main, action) {
  return h("li", { class: "row", ...attributes }, h("div", { class: "row-main" }, main), action);
}

/** "Link" or, when the item is already linked to it, a "Linked" badge. */
function linkButton(state, actions, target) {
  const key = targetKey(target.kind, target.id);
  if (state.linkedKeys.has(key)) {
    return badge(usesPending(state.item) ? "Chosen" : "Linked", "linked");
  }
  return h(
    "button",
    {
      type: "button",
      "data-action": "link",
      "data-target": key,
      disabled: state.busy.has(key),
      "aria-label": `Link to ${target.name}`,
      onclick: () => actions.link(target),
    },
    "Link"
  );
}

function stateScreen(kind, title, text, button) {
  return h(
    "section",
    { class: `state ${kind}`, "data-state": kind, role: kind === "signin" ? "alert" : null },
    h("h2", {}, title),
    h("p", {}, text),
    button
  );
}

function linksSection(state, actions) {
  const compose = usesPending(state.item);
  const links = compose ? state.pending : state.links ? state.links.links : [];
  let empty = "Not linked to any CRM record yet.";
  if (compose) empty = "Nothing chosen yet. Links you pick are applied when the message is sent.";
  else if (state.item.mode === "compose" && !state.item.selector) {
    empty = "Not saved yet. Linking saves the meeting and links it.";
  } else if (!state.links) empty = "Not in the CRM yet. Linking it stores it with its links.";
  return h(
    "section",
    { class: "card", id: "links", "aria-labelledby": "links-title" },
    h("h2", { id: "links-title" }, compose ? "Will be linked when sent" : "Linked to"),
    links.length
      ? h(
          "ul",
          { class: "rows" },
          links.map((link) => {
            const kind = compose ? link.kind : link.targetKind;
            const id = compose ? link.id : link.targetId;
            const name = compose ? link.name : link.targetName;
            const key = targetKey(kind, id);
            const reason = compose
              ? "chosen by you; applied when the message is sent"
              : link.actor && !link.reason.includes(link.actor)
                ? `${link.reason} (by ${link.actor})`
                : link.reason;
            return row(
              { "data-link": key },
              [
                h("div", { class: "row-title" }, badge(KIND_LABEL[kind] || kind), name || `#${id}`),
                h("div", { class: "row-detail", "data-reason": "" }, reason),
              ],
              h(
                "button",
                {
                  type: "button",
                  class: "secondary",
                  "data-action": "unlink",
                  "data-target": key,
                  disabled: state.busy.has(key),
                  "aria-label": `Unlink ${name}`,
                  onclick: () => actions.unlink({ kind, id, name }),
                },
                "Unlink"
              )
            );
          })
        )
      : h("p", { class: "muted", "data-empty": "links" }, empty)
  );
}

function peopleSection(state, actions) {
  const lookup = state.lookup;
  const matches = new Map(lookup.addresses.map((m) => [m.address.toLowerCase(), m]));
  const contacts = new Map(lookup.contacts.map((c) => [c.id, c]));
  const accounts = new Map(lookup.accounts.map((a) => [a.id, a]));
  const people = state.item.people;
  return h(
    "section",
    { class: "card", id: "people", "aria-labelledby": "people-title" },
    h("h2", { id: "people-title" }, "People"),
    people.length
      ? h(
          "ul",
          { class: "rows" },
          people.map((p) => {
            const match = matches.get(p.address.toLowerCase()) || { how: "unknown" };
            const contact = match.contactId ? contacts.get(match.contactId) : null;
            const account = match.accountId ? accounts.get(match.accountId) : null;
            let crm;
            let action = null;
            if (match.how === "internal") {
              crm = "Colleague";
            } else if (contact) {
              crm = `${contact.name}${contact.title ? `, ${contact.title}` : ""}${
                account ? ` · ${account.name}` : ""
              }`;
              action = linkButton(state, actions, {
                kind: "contact",
                id: contact.id,
                name: contact.name,
              });
            } else {
              crm = account ? `Not a contact yet · ${account.name} (by domain)` : "Not in the CRM";
              const key = `create:${p.address.toLowerCase()}`;
              action = h(
                "button",
                {
                  type: "button",
                  class: "secondary",
                  "data-action": "create-contact",
                  "data-address": p.address.toLowerCase(),
                  disabled: state.busy.has(key),
                  onclick: () => actions.createContact(p),
                },
                "Create contact"
              );
            }
            return row(
              { "data-person": p.address.toLowerCase() },
              [
                h(
                  "div",
                  { class: "row-title" },
                  badge(ROLE_LABEL[p.role] || p.role),
                  p.name || p.address
                ),
                h("div", { class: "row-detail" }, p.name ? `${p.address} · ${crm}` : crm),
              ],
              action
            );
          })
        )
      : h("p", { class: "muted" }, "No recipients yet.")
  );
}

function accountsSection(state, actions) {
  const accounts = state.lookup.accounts;
  return h(
    "section",
    { class: "card", id: "accounts", "aria-labelledby": "accounts-title" },
    h("h2", { id: "accounts-title" }, "Accounts"),
    accounts.length
      ? h(
          "ul",
          { class: "rows" },
          accounts.map((a) =>
            row(
              { "data-record": targetKey("account", a.id) },
              [
                h("div", { class: "row-title" }, a.name),
                h("div", { class: "row-detail" }, a.domains.join(", ")),
              ],
              linkButton(state, actions, { kind: "account", id: a.id, name: a.name })
            )
          )
        )
      : h("p", { class: "muted", "data-empty": "accounts" }, "No account matches these people.")
  );
}

function money(o) {
  if (o.amount === null || o.amount === undefined) return "";
  const value = Number(o.amount);
  try {
    return new Intl.NumberFormat(undefined, {
      style: "currency",
      currency: o.currency || "EUR",
      maximumFractionDigits: 0,
    }).format(value);
  } catch (error) {
    console.warn("mailsync: unknown currency", o.currency, error);
    return `${value} ${o.currency || ""}`.trim();
  }
}

function opportunitiesSection(state, actions) {
  const suggested = new Map(
    state.lookup.suggestedLinks
      .filter((s) => s.targetKind === "opportunity")
      .map((s) => [s.targetId, s])
  );
  const opportunities = state.lookup.opportunities;
  return h(
    "section",
    { class: "card", id: "opportunities", "aria-labelledby": "opportunities-title" },
    h("h2", { id: "opportunities-title" }, "Open opportunities"),
    opportunities.length
      ? h(
          "ul",
          { class: "rows" },
          opportunities.map((o) => {
            const suggestion = suggested.get(o.id);
            const name = `${o.code} ${o.name}`;
            return row(
              { "data-record": targetKey("opportunity", o.id) },
              [
                h(
                  "div",
                  { class: "row-title" },
                  suggestion ? badge("Suggested", "suggested") : null,
                  name
                ),
                h(
                  "div",
                  { class: "row-detail" },
                  [o.stage, money(o), o.ownerEmail ? `owner ${o.ownerEmail}` : ""]
                    .filter(Boolean)
                    .join(" · ")
                ),
                suggestion ? h("div", { class: "row-detail small" }, suggestion.reason) : null,
              ],
              linkButton(state, actions, { kind: "opportunity", id: o.id, name })
            );
          })
        )
      : h("p", { class: "muted", "data-empty": "opportunities" }, "No open opportunities here.")
  );
}

/** The whole pane (except the search box, which keeps its focus across renders). */
export function renderPane(state, actions) {
  const subject = document.getElementById("item-subject");
  const mode = document.getElementById("item-mode");
  const body = document.getElementById("pane-body");
  const notice = document.getElementById("notice");
  const search = document.getElementById("search");

  subject.textContent = state.item ? state.item.subject || "(no subject)" : "";
  mode.hidden = !state.item || state.item.mode !== "compose";
  if (state.item && state.item.mode === "compose") {
    mode.textContent =
      state.item.kind === "meeting"
        ? "New meeting: links are applied when it is saved."
        : "Draft: links are applied when the message is sent.";
  }
  notice.hidden = !state.notice;
  notice.className = `notice${state.notice && state.notice.error ? " error" : ""}`;
  notice.textContent = state.notice ? state.notice.text : "";

  body.setAttribute("aria-busy", String(state.phase === "loading"));
  search.hidden = state.phase !== "ready";
  let content;
  switch (state.phase) {
    case "loading":
      content = h("p", { class: "muted", "data-state": "loading" }, "Loading…");
      break;
    case "no-item":
      content = stateScreen("empty", "Nothing selected", "Select an email or a meeting to see it in the CRM.");
      break;
    case "signin":
      content = stateScreen(
        "signin",
        "Sign in to the CRM",
        state.message,
        h("button", { type: "button", "data-action": "sign-in", onclick: actions.signIn }, "Sign in")
      );
      break;
    case "unavailable":
      content = stateScreen("unavailable", "Sign-in not available", state.message);
      break;
    case "offline":
      content = stateScreen(
        "offline",
        "CRM service unreachable",
        state.message,
        h("button", { type: "button", "data-action": "retry", onclick: actions.retry }, "Try again")
      );
      break;
    case "error":
      content = stateScreen(
        "error",
        state.title || "Something went wrong",
        state.message,
        h("button", { type: "button", "data-action": "retry", onclick: actions.retry }, "Try again")
      );
      break;
    default:
      content = [
        linksSection(state, actions),
        peopleSection(state, actions),
        opportunitiesSection(state, actions),
        accountsSection(state, actions),
      ];
  }
  body.replaceChildren(...[content].flat());
}

/** Search hits under the search box. */
export function renderSearch(state, actions) {
  const list = document.getElementById("search-results");
  const search = state.search;
  let items;
  if (search.error) {
    items = [h("li", { class: "muted", role: "alert" }, search.error)];
  } else if (search.query.length < 2) {
    items = [];
  } else if (search.busy && !search.hits.length) {
    items = [h("li", { class: "muted" }, "Searching…")];
  } else if (!search.hits.length) {
    items = [h("li", { class: "muted", "data-empty": "search" }, `Nothing matches “${search.query}”.`)];
  } else {
    items = search.hits.map((hit) =>
      row(
        { "data-hit": targetKey(hit.kind, hit.id) },
        [
          h("div", { class: "row-title" }, badge(KIND_LABEL[hit.kind] || hit.kind), hit.label),
          hit.detail ? h("div", { class: "row-detail" }, hit.detail) : null,
        ],
        linkButton(state, actions, { kind: hit.kind, id: hit.id, name: hit.label })
      )
    );
  }
  list.replaceChildren(...items);
}
