/*
 * The CRM task pane: who the people on the open item are in the CRM, its links, and one-click
 * link / unlink / search / create contact. Entry module of taskpane.html.
 *
 * One state object, redrawn after every change (the pane is small, so a full redraw is
 * cheaper to reason about than patching). Failures end in a state the user can act on:
 * sign in (401 or no token), try again (backend unreachable or an error), never a blank pane.
 */
import { ApiError, BackendUnreachable, createApi } from "./taskpane-api.js";
import { getAccessToken, SignInRequired, SignInUnavailable } from "./taskpane-auth.js";
import { currentItem, loadPending } from "./taskpane-item.js";
import { renderPane, renderSearch, targetKey, usesPending } from "./taskpane-view.js";

const SEARCH_DELAY_MS = 250;
const EMPTY_LOOKUP = { addresses: [], contacts: [], accounts: [], opportunities: [], suggestedLinks: [] };

const api = createApi(() => getAccessToken({ interactive: false }));

const state = {
  phase: "loading",
  message: "",
  title: null,
  item: null,
  lookup: EMPTY_LOOKUP,
  links: null,
  pending: [],
  pendingStore: null,
  linkedKeys: new Set(),
  busy: new Set(),
  notice: null,
  search: { query: "", hits: [], busy: false, error: null },
};

const actions = { link, unlink, createContact, signIn, retry: refresh };

function draw() {
  state.linkedKeys = new Set(
    state.item && usesPending(state.item)
      ? state.pending.map((p) => targetKey(p.kind, p.id))
      : (state.links ? state.links.links : []).map((l) => targetKey(l.targetKind, l.targetId))
  );
  renderPane(state, actions);
  renderSearch(state, actions);
}

function notify(text, error = false) {
  state.notice = text ? { text, error } : null;
}

/** Turn any failure into a state or a notice; unknown errors are logged, never hidden. */
function fail(error, doing) {
  if (error instanceof SignInRequired) {
    state.phase = "signin";
    state.message = error.message;
  } else if (error instanceof SignInUnavailable) {
    state.phase = "unavailable";
    state.message = error.message;
  } else if (state.phase === "ready") {
    // Keep what the user sees; say what failed.
    const why = error instanceof ApiError || error instanceof BackendUnreachable
      ? error.message
      : `unexpected error: ${error.message || error}`;
    notify(`Could not ${doing}: ${why}`, true);
    if (!(error instanceof ApiError || error instanceof BackendUnreachable)) console.error(error);
  } else if (error instanceof BackendUnreachable) {
    state.phase = "offline";
    state.message = error.message;
  } else {
    state.phase = "error";
    state.title = error instanceof ApiError && error.status === 403 ? "No access" : null;
    state.message = error instanceof ApiError ? error.message : `Unexpected error: ${error.message || error}`;
    if (!(error instanceof ApiError)) console.error(error);
  }
}

/** Links chosen while this message was a draft travel on the item; apply them now. */
async function applyDraftLinks() {
  let pending;
  try {
    pending = await loadPending(Office.context.mailbox.item);
  } catch (error) {
    console.warn("mailsync: custom properties unavailable, no draft links to apply", error);
    return;
  }
  if (!pending.links.length) return;
  let stored = (await api.itemLinks(state.item.selector)) !== null;
  for (const target of pending.links) {
    const snapshot = stored ? undefined : await state.item.snapshot();
    await api.link(state.item.selector, { kind: target.kind, id: target.id }, snapshot);
    stored = true;
  }
  await pending.store([]);
  notify(`Applied ${pending.links.length} link(s) chosen while writing this message.`);
}

async function refresh() {
  state.phase = "loading";
  draw();
  try {
    const item = state.item;
    if (item.mode === "read") await applyDraftLinks();
    const addresses = item.people.map((p) => p.address);
    const [lookup, links, pending] = await Promise.all([
      addresses.length ? api.lookup(addresses) : EMPTY_LOOKUP,
      item.selector ? api.itemLinks(item.selector) : null,
      usesPending(item)
        ? loadPending(Office.context.mailbox.item)
        : null,
    ]);
    state.lookup = lookup;
    state.links = links;
    if (pending) {
      state.pending = pending.links;
      state.pendingStore = pending;
    }
    state.phase = "ready";
  } catch (error) {
    fail(error, "load this item");
  }
  draw();
}

async function withBusy(key, doing, work) {
  state.busy.add(key);
  notify(null);
  draw();
  try {
    await work();
  } catch (error) {
    fail(error, doing);
  } finally {
    state.busy.delete(key);
    draw();
  }
}

async function reloadLinks() {
  const [links, lookup] = await Promise.all([
    state.item.selector ? api.itemLinks(state.item.selector) : null,
    state.item.people.length ? api.lookup(state.item.people.map((p) => p.address)) : EMPTY_LOOKUP,
  ]);
  state.links = links;
  state.lookup = lookup;
}

/** Link the open item; stores it first (snapshot) when the daemon has not synced it yet. */
async function linkNow(target) {
  const item = state.item;
  if (item.mode === "compose") {
    // A saved appointment is a calendar item: save, then link it like any stored item.
    const itemId = await item.save();
    const saved = await item.savedAppointment(itemId);
    item.selector = saved.selector;
    await api.link(saved.selector, { kind: target.kind, id: target.id }, saved.snapshot);
  } else {
    const snapshot = state.links ? undefined : await item.snapshot();
    await api.link(item.selector, { kind: target.kind, id: target.id }, snapshot);
  }
}

async function link(target) {
  const key = targetKey(target.kind, target.id);
  await withBusy(key, `link ${target.name}`, async () => {
    if (usesPending(state.item)) {
      const next = [...state.pending.filter((p) => targetKey(p.kind, p.id) !== key), target];
      await state.pendingStore.store(next);
      await state.item.save();
      state.pending = next;
      notify(`${target.name} will be linked when the message is sent.`);
      return;
    }
    try {
      await linkNow(target);
    } catch (error) {
      if (!(error instanceof BackendUnreachable) || state.item.mode !== "compose") throw error;
      await keepForSend(target);
      notify(`The CRM cannot be reached: ${target.name} will be linked when the meeting is sent.`, true);
      return;
    }
    await reloadLinks();
    notify(`Linked to ${target.name}.`);
  });
}

/**
 * A meeting being written whose link could not reach the CRM: keep the link on the item, so
 * the send handler (commands.js, OnAppointmentSend) applies it, or the pane on the saved item.
 */
async function keepForSend(target) {
  const pending = await loadPending(Office.context.mailbox.item);
  const key = targetKey(target.kind, target.id);
  await pending.store([...pending.links.filter((p) => targetKey(p.kind, p.id) !== key), target]);
  await state.item.save();
}

async function unlink(target) {
  const key = targetKey(target.kind, target.id);
  await withBusy(key, `unlink ${target.name}`, async () => {
    if (usesPending(state.item)) {
      const next = state.pending.filter((p) => targetKey(p.kind, p.id) !== key);
      await state.pendingStore.store(next);
      state.pending = next;
      notify(`${target.name} will not be linked.`);
      return;
    }
    await api.unlink(state.item.selector, { kind: target.kind, id: target.id });
    await reloadLinks();
    notify(`Unlinked ${target.name}. Automatic rules will not link it again.`);
  });
}

async function createContact(person) {
  const key = `create:${person.address.toLowerCase()}`;
  await withBusy(key, `create a contact for ${person.address}`, async () => {
    const created = await api.createContact(person.address, person.name);
    const contact = created.contact;
    const where = created.account ? ` at ${created.account.name}` : "";
    const target = { kind: "contact", id: contact.id, name: contact.name };
    if (usesPending(state.item)) {
      const next = [...state.pending, target];
      await state.pendingStore.store(next);
      await state.item.save();
      state.pending = next;
      state.lookup = await api.lookup(state.item.people.map((p) => p.address));
    } else {
      await linkNow(target);
      await reloadLinks();
    }
    notify(`Created contact ${contact.name}${where} (${created.accountReason}) and linked it.`);
  });
}

async function signIn() {
  try {
    await getAccessToken({ interactive: true });
  } catch (error) {
    fail(error, "sign in");
    draw();
    return;
  }
  notify(null);
  await refresh();
}

// ----------------------------------------------------------------------------- search

let searchTimer = null;
let searchSequence = 0;

async function runSearch(query) {
  const sequence = ++searchSequence;
  state.search = { ...state.search, busy: true, error: null };
  renderSearch(state, actions);
  try {
    const result = await api.search(query);
    if (sequence !== searchSequence) return; // a newer query has been typed
    state.search = { query, hits: result.hits, busy: false, error: null };
  } catch (error) {
    if (sequence !== searchSequence) return;
    if (error instanceof SignInRequired) {
      fail(error, "search");
      draw();
      return;
    }
    state.search = { query, hits: [], busy: false, error: `Search failed: ${error.message}` };
  }
  renderSearch(state, actions);
}

function onSearchInput(event) {
  const query = event.target.value.trim();
  state.search = { ...state.search, query, hits: query === state.search.query ? state.search.hits : [] };
  clearTimeout(searchTimer);
  if (query.length < 2) {
    searchSequence += 1;
    renderSearch(state, actions);
    return;
  }
  searchTimer = setTimeout(() => runSearch(query), SEARCH_DELAY_MS);
}

// ----------------------------------------------------------------------------- start

async function showItem() {
  notify(null);
  state.links = null;
  state.pending = [];
  state.lookup = EMPTY_LOOKUP;
  try {
    state.item = await currentItem(Office.context.mailbox);
  } catch (error) {
    state.item = null;
    fail(error, "read this item");
    draw();
    return;
  }
  if (!state.item) {
    state.phase = "no-item";
    draw();
    return;
  }
  await refresh();
}

async function start() {
  await Office.onReady();
  document.getElementById("search-input").addEventListener("input", onSearchInput);
  const mailbox = Office.context.mailbox;
  if (mailbox && typeof mailbox.addHandlerAsync === "function" && Office.EventType) {
    // A pinned pane stays open while the user moves to another item.
    mailbox.addHandlerAsync(Office.EventType.ItemChanged, () => showItem());
  }
  if (!mailbox) {
    state.phase = "no-item";
    draw();
    return;
  }
  await showItem();
}

start().catch((error) => {
  console.error("mailsync: the pane failed to start", error);
  state.phase = "error";
  state.message = `The pane failed to start: ${error.message || error}`;
  draw();
});
