/*
 * The open Outlook item as the task pane needs it: who is on it, how the API names it, and
 * the snapshot that lets the API store it when the daemon has not synced it yet.
 *
 * Read mode exposes properties as plain values; compose mode exposes objects with getAsync.
 * The snapshot follows the contract in README.md (the same one commands.js sends).
 *
 * Compose mode and pending links
 * ------------------------------
 * A draft has no internetMessageId and is not correspondence yet, so a link picked while
 * composing cannot be stored. It is kept as a *pending link* in the item's own custom
 * property PENDING_PROPERTY (item.loadCustomPropertiesAsync), and the draft is saved
 * (item.saveAsync) so the property persists with it. We chose the item's custom property over
 * browser storage keyed by the draft id because it travels with the item: it survives closing
 * the draft, opening it in another Outlook client, and it stays on the sent copy in the
 * sender's Sent Items, where the pane (read mode) finds it and applies the links through the
 * API, then clears it. When the item is sent, the send handlers in commands.js
 * (OnMessageSend / OnAppointmentSend) apply the pending links first and mark them
 * `appliedAt` (README.md, "Sending"); links they could not apply stay pending. A saved
 * appointment is a real calendar item, so its links are applied right after saving; only
 * one that could not reach the CRM then is kept pending, for the send.
 */

export const PENDING_PROPERTY = "mailsyncPendingLinks";
export const TRACK_HEADER = "X-Mailsync-Track";
const MAX_ADDRESSES = 50; // the lookup API's limit

/** Promise around Office's callback-style *Async methods (`this` must stay bound). */
export function officeAsync(target, method, ...args) {
  return new Promise((resolve, reject) => {
    target[method](...args, (result) => {
      if (result.status === Office.AsyncResultStatus.Succeeded) {
        resolve(result.value);
      } else {
        reject(new Error(`${method}: ${(result.error && result.error.message) || "failed"}`));
      }
    });
  });
}

function person(details) {
  if (!details || !details.emailAddress) return null;
  return { name: details.displayName || "", address: details.emailAddress };
}

function people(list) {
  return (list || []).map(person).filter(Boolean);
}

function isoDate(value) {
  return value instanceof Date ? value.toISOString() : value || null;
}

function isMessage(item) {
  return item.itemType === Office.MailboxEnums.ItemType.Message;
}

/** Compose items expose subject as an object with getAsync; read items as a string. */
function isComposing(item) {
  return typeof item.subject === "object" && item.subject !== null;
}

function restId(mailbox, itemId) {
  return mailbox.convertToRestId(itemId, Office.MailboxEnums.RestVersion.v2_0);
}

/**
 * A meeting's natural identity for the API's selector (organizer address, start, end,
 * subject). Office.js has no iCalendar UID and its item id is not the one the daemon stored
 * the meeting under, so the API finds a meeting only the daemon synced by this identity.
 * Without an organizer or times there is no identity: the item id alone names the meeting.
 */
function meetingIdentity(organizerAddress, subject, start, end) {
  if (!organizerAddress || !start || !end) return {};
  const identity = { organizer: organizerAddress, start: isoDate(start), end: isoDate(end) };
  return { ...identity, subject: subject || "" };
}

/**
 * An appointment the organizer opened (compose mode) names a calendar item only once saved:
 * getItemIdAsync (Mailbox 1.8) fails on a new, unsaved one, which is then named after saving.
 */
async function savedMeetingSelector(mailbox, item) {
  if (typeof item.getItemIdAsync !== "function") return null;
  let itemId;
  try {
    itemId = await officeAsync(item, "getItemIdAsync");
  } catch {
    return null; // a new appointment: "Not saved yet" until linking saves it
  }
  if (!itemId) return null;
  const [organizer, subject, start, end] = await Promise.all([
    item.organizer && typeof item.organizer.getAsync === "function"
      ? officeAsync(item.organizer, "getAsync")
      : null,
    officeAsync(item.subject, "getAsync"),
    officeAsync(item.start, "getAsync"),
    officeAsync(item.end, "getAsync"),
  ]);
  const address =
    (organizer && organizer.emailAddress) || (mailbox.userProfile && mailbox.userProfile.emailAddress);
  return { itemId: restId(mailbox, itemId), ...meetingIdentity(address, subject, start, end) };
}

/** Everyone on the item, sender/organizer first, each with their role on it. */
function participants(roles) {
  const seen = new Set();
  const out = [];
  for (const [role, list] of roles) {
    for (const entry of list) {
      const key = entry.address.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ ...entry, role });
    }
  }
  return out.slice(0, MAX_ADDRESSES);
}

async function readModeItem(mailbox, item) {
  const message = isMessage(item);
  const rest = restId(mailbox, item.itemId);
  const organizerAddress = !message && item.organizer ? item.organizer.emailAddress : null;
  const people_ = message
    ? participants([
        ["from", people([item.from])],
        ["to", people(item.to)],
        ["cc", people(item.cc)],
      ])
    : participants([
        ["organizer", people([item.organizer])],
        ["required", people(item.requiredAttendees)],
        ["optional", people(item.optionalAttendees)],
      ]);
  return {
    kind: message ? "message" : "meeting",
    mode: "read",
    subject: item.subject || "",
    people: people_,
    // Messages are stored under their Message-ID (the same key the daemon uses); meetings
    // under the Exchange item id, since Office.js does not expose the iCalendar UID, with
    // their identity so the API also finds the daemon's copy.
    selector: message
      ? item.internetMessageId
        ? { internetMessageId: item.internetMessageId }
        : { itemId: rest }
      : { itemId: rest, ...meetingIdentity(organizerAddress, item.subject, item.start, item.end) },
    snapshot: () => readSnapshot(item, message, rest),
  };
}

async function readSnapshot(item, message, rest) {
  const payload = {
    kind: message ? "message" : "meeting",
    mode: "read",
    itemId: item.itemId,
    restItemId: rest,
    conversationId: item.conversationId || null,
    subject: item.subject || "",
    body: await officeAsync(item.body, "getAsync", Office.CoercionType.Text),
  };
  if (message) {
    payload.internetMessageId = item.internetMessageId || null;
    payload.from = person(item.from);
    payload.to = people(item.to);
    payload.cc = people(item.cc);
    payload.sentAt = isoDate(item.dateTimeCreated);
    payload.headers = await officeAsync(item, "getAllInternetHeadersAsync");
  } else {
    payload.organizer = person(item.organizer);
    payload.requiredAttendees = people(item.requiredAttendees);
    payload.optionalAttendees = people(item.optionalAttendees);
    payload.start = isoDate(item.start);
    payload.end = isoDate(item.end);
  }
  return payload;
}

async function composeModeItem(mailbox, item) {
  const message = isMessage(item);
  const subject = await officeAsync(item.subject, "getAsync");
  const people_ = message
    ? participants([
        ["to", people(await officeAsync(item.to, "getAsync"))],
        ["cc", people(await officeAsync(item.cc, "getAsync"))],
      ])
    : participants([
        ["required", people(await officeAsync(item.requiredAttendees, "getAsync"))],
        ["optional", people(await officeAsync(item.optionalAttendees, "getAsync"))],
      ]);
  return {
    kind: message ? "message" : "meeting",
    mode: "compose",
    subject: subject || "",
    people: people_,
    selector: message ? null : await savedMeetingSelector(mailbox, item),
    snapshot: null,
    /** Save the draft; a saved appointment can then be stored (see savedAppointment). */
    save: async () => {
      if (message) {
        await officeAsync(item.internetHeaders, "setAsync", { [TRACK_HEADER]: "1" });
      }
      await officeAsync(item, "saveAsync");
      return officeAsync(item, "getItemIdAsync");
    },
    savedAppointment: message
      ? null
      : async (itemId) => {
          const rest = restId(mailbox, itemId);
          const snapshot = {
            kind: "meeting",
            // Saved, the appointment is a calendar item like any the daemon reads.
            mode: "read",
            itemId,
            restItemId: rest,
            subject: (await officeAsync(item.subject, "getAsync")) || "",
            body: await officeAsync(item.body, "getAsync", Office.CoercionType.Text),
            organizer: mailbox.userProfile
              ? { name: mailbox.userProfile.displayName || "", address: mailbox.userProfile.emailAddress }
              : null,
            requiredAttendees: people(await officeAsync(item.requiredAttendees, "getAsync")),
            optionalAttendees: people(await officeAsync(item.optionalAttendees, "getAsync")),
            start: isoDate(await officeAsync(item.start, "getAsync")),
            end: isoDate(await officeAsync(item.end, "getAsync")),
          };
          const organizer = snapshot.organizer && snapshot.organizer.address;
          return {
            selector: {
              itemId: rest,
              ...meetingIdentity(organizer, snapshot.subject, snapshot.start, snapshot.end),
            },
            snapshot,
          };
        },
  };
}

/** The current item, or null when the pane has no item (e.g. nothing selected). */
export async function currentItem(mailbox) {
  const item = mailbox && mailbox.item;
  if (!item) return null;
  return isComposing(item) ? composeModeItem(mailbox, item) : readModeItem(mailbox, item);
}

/** Pending links (compose mode) kept on the item itself; see the header comment. */
export async function loadPending(item) {
  const properties = await officeAsync(item, "loadCustomPropertiesAsync");
  const raw = properties.get(PENDING_PROPERTY);
  let links = [];
  try {
    links = raw ? JSON.parse(raw) : [];
  } catch (error) {
    console.warn("mailsync: unreadable pending links dropped", raw, error);
  }
  return {
    links: Array.isArray(links) ? links : [],
    store: async (next) => {
      if (next.length) properties.set(PENDING_PROPERTY, JSON.stringify(next));
      else properties.remove(PENDING_PROPERTY);
      await officeAsync(properties, "saveAsync");
    },
  };
}
