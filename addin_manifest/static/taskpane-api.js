/*
 * The mailsync API as the task pane uses it (web/api, under <base>/api/v1/).
 *
 * Every failure becomes one of three errors the pane knows how to show: SignInRequired
 * (401: the token was refused, e.g. expired), BackendUnreachable (no answer at all) and
 * ApiError (an answer with a status and the API's own message).
 */
import { SignInRequired } from "./taskpane-auth.js";

export class BackendUnreachable extends Error {
  constructor() {
    super("The CRM service cannot be reached. Check your connection, then try again.");
    this.name = "BackendUnreachable";
  }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `The CRM answered HTTP ${status}.`);
    this.name = "ApiError";
    this.status = status;
  }
}

/** The API root, derived from where the pane is served (<base>/addin/taskpane.html). */
function apiUrl(path, query) {
  const url = new URL(`../api/v1/${path}`, document.baseURI);
  for (const [name, value] of query || []) {
    if (value !== null && value !== undefined) url.searchParams.append(name, String(value));
  }
  return url.toString();
}

/** Query pairs naming an item the way GET/DELETE /items/links want it (a meeting's identity too). */
function selectorQuery(selector) {
  return [
    ["internetMessageId", selector.internetMessageId],
    ["iCalUId", selector.iCalUId],
    ["itemId", selector.itemId],
    ["organizer", selector.organizer],
    ["start", selector.start],
    ["end", selector.end],
    ["subject", selector.subject],
  ];
}

export function createApi(tokenSource) {
  async function request(method, path, { query, body } = {}) {
    const token = await tokenSource();
    let response;
    try {
      response = await fetch(apiUrl(path, query), {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (networkError) {
      console.warn("mailsync: backend unreachable", networkError);
      throw new BackendUnreachable();
    }
    if (response.status === 401) {
      throw new SignInRequired("Your CRM sign-in has expired. Sign in again to continue.");
    }
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, payload && payload.detail);
    }
    return payload;
  }

  return {
    lookup: (addresses) =>
      request("GET", "lookup", { query: addresses.map((address) => ["address", address]) }),
    /** The item's links, or null when the item is not stored yet (404). */
    itemLinks: async (selector) => {
      try {
        return await request("GET", "items/links", { query: selectorQuery(selector) });
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return null;
        throw error;
      }
    },
    link: (selector, target, snapshot) =>
      request("POST", "items/links", {
        body: { item: selector, target, ...(snapshot ? { snapshot } : {}) },
      }),
    unlink: (selector, target) =>
      request("DELETE", "items/links", {
        query: [
          ...selectorQuery(selector),
          ["targetKind", target.kind],
          ["targetId", target.id],
        ],
      }),
    search: (text) => request("GET", "records/search", { query: [["q", text], ["limit", 8]] }),
    createContact: (email, displayName) =>
      request("POST", "contacts", { body: { email, displayName } }),
  };
}
