/*
 * Function file of the mailsync Outlook add-in: the "Track in CRM" button and the send
 * handlers (OnMessageSend / OnAppointmentSend, Smart Alerts; see the section further down).
 *
 * Runs without a pane (ExecuteFunction). It reads the current item, sends it to the backend,
 * which stores it (if the daemon has not synced it yet) and links it by the rules' best match,
 * then shows what was linked as a notification on the item. Whatever happens, it ends with
 * event.completed(): Outlook keeps the button busy (and eventually shows an error) otherwise.
 *
 * Backend contract (implemented by web/): POST <base>/api/v1/items/track with a JSON item
 * (see collectItem) and "Authorization: Bearer <Entra ID token>"; answers 200 with
 * {"links": [{"targetType", "targetName", "reason"}]}, 401 when the token is not accepted.
 *
 * Plain ES2017 classic script, no build step, no modules: it is served as is from
 * addin_manifest/static/, and classic Outlook on Windows loads it alone (without
 * commands.html) in its JavaScript-only runtime for the send events, where there is no DOM.
 */
"use strict";

var MAILSYNC_NOTIFICATION_KEY = "mailsyncTrack";
var MAILSYNC_TRACK_HEADER = "X-Mailsync-Track";
var MAILSYNC_MAX_NOTIFICATION = 150; // Outlook rejects longer notification messages.

/**
 * The API root, derived from where this file is served: <base>/addin/commands.html, or in
 * classic Outlook's JavaScript-only runtime (no document) <base>/addin/commands.js, which
 * Office.context.urls.javascriptRuntimeUrl names (Mailbox 1.14). Without either, a send
 * handler fails and the links stay pending on the item (see "send events" below).
 */
function mailsyncApiUrl(path) {
  var urls = typeof Office !== "undefined" && Office.context && Office.context.urls;
  var here =
    typeof document !== "undefined" && document.baseURI
      ? document.baseURI
      : (urls && urls.javascriptRuntimeUrl) || (globalThis.location && globalThis.location.href);
  if (!here) throw new Error("mailsync: cannot tell where the add-in is served from");
  return new URL("../api/v1/" + path, here).toString();
}

/** Promise around Office's callback-style *Async methods (this must stay bound). */
function officeAsync(target, method) {
  var args = Array.prototype.slice.call(arguments, 2);
  return new Promise(function (resolve, reject) {
    target[method].apply(
      target,
      args.concat([
        function (result) {
          if (result.status === Office.AsyncResultStatus.Succeeded) {
            resolve(result.value);
          } else {
            reject(new Error(method + ": " + (result.error && result.error.message)));
          }
        },
      ])
    );
  });
}

function person(details) {
  if (!details) return null;
  return { name: details.displayName || "", address: details.emailAddress || "" };
}

function people(list) {
  return (list || []).map(person);
}

function isoDate(value) {
  return value instanceof Date ? value.toISOString() : value || null;
}

/** Read mode: properties are plain values, headers and body need a call each. */
async function collectReadItem(mailbox, item) {
  var isMessage = item.itemType === Office.MailboxEnums.ItemType.Message;
  var payload = {
    kind: isMessage ? "message" : "meeting",
    mode: "read",
    itemId: item.itemId,
    restItemId: mailbox.convertToRestId(item.itemId, Office.MailboxEnums.RestVersion.v2_0),
    conversationId: item.conversationId || null,
    subject: item.subject || "",
    body: await officeAsync(item.body, "getAsync", Office.CoercionType.Text),
  };
  if (isMessage) {
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

/** Mark a message being written as one a person asked to track (MAILSYNC_TRACK_HEADER). */
function markTracked(item) {
  var header = {};
  header[MAILSYNC_TRACK_HEADER] = "1";
  return officeAsync(item.internetHeaders, "setAsync", header);
}

/**
 * Compose mode: the item has no id until it is saved. A message also gets a header that marks
 * it for tracking, so the link is applied to the sent copy when the daemon syncs it.
 */
async function collectComposeItem(item) {
  var isMessage = item.itemType === Office.MailboxEnums.ItemType.Message;
  if (isMessage) await markTracked(item);
  await officeAsync(item, "saveAsync");
  var payload = {
    kind: isMessage ? "message" : "meeting",
    mode: "compose",
    itemId: await officeAsync(item, "getItemIdAsync"),
    subject: await officeAsync(item.subject, "getAsync"),
    body: await officeAsync(item.body, "getAsync", Office.CoercionType.Text),
  };
  if (isMessage) {
    payload.to = people(await officeAsync(item.to, "getAsync"));
    payload.cc = people(await officeAsync(item.cc, "getAsync"));
  } else {
    payload.requiredAttendees = people(await officeAsync(item.requiredAttendees, "getAsync"));
    payload.optionalAttendees = people(await officeAsync(item.optionalAttendees, "getAsync"));
    payload.start = isoDate(await officeAsync(item.start, "getAsync"));
    payload.end = isoDate(await officeAsync(item.end, "getAsync"));
  }
  return payload;
}

function collectItem(mailbox) {
  var item = mailbox.item;
  // Compose items expose subject as an object with getAsync; read items as a string.
  var composing = typeof item.subject === "object" && item.subject !== null;
  return composing ? collectComposeItem(item) : collectReadItem(mailbox, item);
}

/**
 * A token for our backend from Office SSO; the task pane handles the interactive cases.
 * A send event cannot show anything, so it asks with `interactive: false`.
 */
async function mailsyncAccessToken(interactive) {
  if (typeof OfficeRuntime === "undefined" || !OfficeRuntime.auth) {
    throw new Error("Sign-in is not available here: open the CRM pane to sign in.");
  }
  var prompt = interactive !== false;
  return OfficeRuntime.auth.getAccessToken({
    allowSignInPrompt: prompt,
    allowConsentPrompt: prompt,
    forMSGraphAccess: false,
  });
}

function describeLinks(links) {
  if (!links || links.length === 0) {
    return "Tracked in CRM, but no record matched. Open the CRM pane to link it by hand.";
  }
  var names = links.map(function (link) {
    return link.targetName + " (" + link.targetType + ")";
  });
  return "Tracked in CRM: " + names.join(", ");
}

function truncate(text) {
  return text.length <= MAILSYNC_MAX_NOTIFICATION
    ? text
    : text.slice(0, MAILSYNC_MAX_NOTIFICATION - 1) + "\u2026";
}

function notify(item, type, text) {
  return officeAsync(item.notificationMessages, "replaceAsync", MAILSYNC_NOTIFICATION_KEY, {
    type: type,
    message: truncate(text),
    icon: "Icon.16",
    persistent: false,
  });
}

async function trackCurrentItem(mailbox) {
  var payload = await collectItem(mailbox);
  var token = await mailsyncAccessToken();
  var response = await fetch(mailsyncApiUrl("items/track"), {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
    body: JSON.stringify(payload),
  });
  if (response.status === 401) {
    throw new Error("Your CRM sign-in has expired: open the CRM pane to sign in again.");
  }
  if (!response.ok) {
    throw new Error("The CRM could not track this item (HTTP " + response.status + ").");
  }
  var result = await response.json();
  var summary = describeLinks(result.links);
  if (payload.mode === "read") {
    var applied = await applyPendingAfterTrack(mailbox.item, token, storedSelector(payload));
    if (applied > 0) summary += " + " + applied + " link(s) chosen while writing";
  }
  return summary;
}

/** How GET/POST items/links name an item the track call has just stored (as the pane does). */
function storedSelector(payload) {
  return payload.kind === "message" && payload.internetMessageId
    ? { internetMessageId: payload.internetMessageId }
    : { itemId: payload.restItemId };
}

/**
 * The sent copy of a message (or a saved meeting) may carry links picked while writing that
 * the send handler could not apply, or applied to the row stored at send (see "send events"
 * below): apply them to the item as now stored, then clear them, as the pane does.
 */
async function applyPendingAfterTrack(item, token, selector) {
  var properties = await officeAsync(item, "loadCustomPropertiesAsync");
  var pending = parsePending(properties.get(MAILSYNC_PENDING_PROPERTY));
  if (pending.length === 0) return 0;
  for (var i = 0; i < pending.length; i += 1) {
    await postLink(token, selector, { kind: pending[i].kind, id: pending[i].id }, null);
  }
  properties.remove(MAILSYNC_PENDING_PROPERTY);
  await officeAsync(properties, "saveAsync");
  return pending.length;
}

/** The ExecuteFunction handler named in both manifests (FunctionName / action id). */
async function trackInCrm(event) {
  var mailbox = Office.context.mailbox;
  var item = mailbox.item;
  try {
    var summary = await trackCurrentItem(mailbox);
    await notify(item, Office.MailboxEnums.ItemNotificationMessageType.InformationalMessage, summary);
  } catch (error) {
    try {
      await notify(
        item,
        Office.MailboxEnums.ItemNotificationMessageType.ErrorMessage,
        String((error && error.message) || error)
      );
    } catch (notifyError) {
      console.error("mailsync: could not show the error on the item", notifyError, error);
    }
  } finally {
    event.completed();
  }
}

// ----------------------------------------------------------------------------- send events
//
// Links a salesperson picks in the CRM pane while writing are *pending*: kept on the item in
// the custom property MAILSYNC_PENDING_PROPERTY (taskpane-item.js writes it: a JSON list of
// {kind, id, name}). Custom properties travel with the draft (another Outlook client, the
// Sent Items copy); browser storage would stay on one machine and sessionData would not
// reach the sent copy. When the item is sent, Outlook runs onMessageSendHandler /
// onAppointmentSendHandler (LaunchEvent / autoRunEvents, send mode "prompt user"), which
// stores the item through the API and applies the links (POST items/links with a snapshot).
//
// The mail always goes out: every path ends in event.completed({allowEvent: true}), and the
// work has a deadline (MAILSYNC_SEND_DEADLINE_MS) below the five seconds after which Outlook
// shows its "taking longer than expected" dialog. If the token or the backend fails, the
// links stay pending on the item and reach the CRM later, from the sent copy: the pane
// applies pending links when it opens on it (taskpane.js applyDraftLinks), and so does
// Track in CRM on it (applyPendingAfterTrack). Links applied at send are marked with `appliedAt` and stay on the item
// too, so the pane on the sent copy applies them to the row keyed by its real Message-ID
// (see below) as well.
//
// How the item is named in the store. A draft being sent has no Message-ID Office.js can
// read (internetMessageId exists in read mode only; classic Outlook even assigns a new one at
// send), and its item id changes when Exchange moves it to Sent Items. So the snapshot is the
// message as sent: sender (the mailbox owner), recipients, subject, body, the conversation id
// (assigned when the draft is saved, kept by the sent copy) and the send time; without a
// Message-ID the API keys it by its documented fallback, a hash of sender, recipients,
// subject and send time (crm_store.items.stable_header_key), unique per send. It is found
// again through the saved draft's item id (the add-in copy's provider id). The daemon's Sent
// Items copy is keyed by the real Message-ID; its sync folds the row stored here into that one
// (crm_store/message_merge.py), matching sender, recipients, subject, the conversation id and
// this send time within minutes, so the links end up under the real Message-ID. We do not
// stamp an X-Mailsync-Draft-Id header for it: a Sent Items copy has no MIME headers in Graph
// (mailsync/providers/graph/normalise.py) and the API keeps only the headers the rules read.
// A meeting keeps its item id when it is sent, so it lands in the row the pane stores it in
// (the saved appointment's id).

var MAILSYNC_PENDING_PROPERTY = "mailsyncPendingLinks"; // = PENDING_PROPERTY in taskpane-item.js
var MAILSYNC_SEND_DEADLINE_MS = 4000;

function parsePending(raw) {
  try {
    var links = raw ? JSON.parse(raw) : [];
    return Array.isArray(links) ? links : [];
  } catch (error) {
    console.warn("mailsync: unreadable pending links left as they are", raw, error);
    return [];
  }
}

function withDeadline(promise, ms, what) {
  var timer;
  var deadline = new Promise(function (_, reject) {
    timer = setTimeout(function () {
      reject(new Error(what + " took longer than " + ms + " ms"));
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(function () {
    clearTimeout(timer);
  });
}

/** The saved item's id; a send handler may find the draft saved already, or must save it. */
async function savedItemId(item) {
  try {
    var known = await officeAsync(item, "getItemIdAsync");
    if (known) return known;
  } catch (notSavedYet) {
    // saved below
  }
  await officeAsync(item, "saveAsync");
  return officeAsync(item, "getItemIdAsync");
}

/** The item as it is being sent, in the API's snapshot form (README: backend contract). */
async function sendingSnapshot(mailbox, item, itemId) {
  var isMessage = item.itemType === Office.MailboxEnums.ItemType.Message;
  var snapshot = {
    kind: isMessage ? "message" : "meeting",
    // Once sent (a saved appointment: once saved) it is correspondence like any the daemon reads.
    mode: "read",
    itemId: itemId,
    restItemId: mailbox.convertToRestId(itemId, Office.MailboxEnums.RestVersion.v2_0),
    conversationId: item.conversationId || null,
    subject: (await officeAsync(item.subject, "getAsync")) || "",
    body: await officeAsync(item.body, "getAsync", Office.CoercionType.Text),
  };
  var me = mailbox.userProfile
    ? { name: mailbox.userProfile.displayName || "", address: mailbox.userProfile.emailAddress }
    : null;
  if (isMessage) {
    snapshot.from = me;
    snapshot.to = people(await officeAsync(item.to, "getAsync"));
    snapshot.cc = people(await officeAsync(item.cc, "getAsync"));
    if (item.bcc) snapshot.bcc = people(await officeAsync(item.bcc, "getAsync"));
    snapshot.sentAt = new Date().toISOString();
  } else {
    snapshot.organizer = me;
    snapshot.requiredAttendees = people(await officeAsync(item.requiredAttendees, "getAsync"));
    snapshot.optionalAttendees = people(await officeAsync(item.optionalAttendees, "getAsync"));
    snapshot.start = isoDate(await officeAsync(item.start, "getAsync"));
    snapshot.end = isoDate(await officeAsync(item.end, "getAsync"));
  }
  return snapshot;
}

async function postLink(token, selector, target, snapshot) {
  var response = await fetch(mailsyncApiUrl("items/links"), {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
    body: JSON.stringify(
      snapshot ? { item: selector, target: target, snapshot: snapshot } : { item: selector, target: target }
    ),
  });
  if (!response.ok) {
    var detail = await response.text().catch(function () {
      return "";
    });
    throw new Error("the CRM refused the link (HTTP " + response.status + ") " + detail);
  }
}

/**
 * Apply the item's pending links; returns how many were applied. Throws on any failure,
 * after recording on the item which links did reach the CRM.
 */
async function applyPendingLinksOnSend(mailbox) {
  var item = mailbox.item;
  var properties = await officeAsync(item, "loadCustomPropertiesAsync");
  var pending = parsePending(properties.get(MAILSYNC_PENDING_PROPERTY));
  var open = pending.filter(function (link) {
    return !link.appliedAt;
  });
  if (open.length === 0) return 0;
  var applied = 0;
  try {
    var token = await mailsyncAccessToken(false);
    if (item.itemType === Office.MailboxEnums.ItemType.Message) await markTracked(item);
    var itemId = await savedItemId(item);
    var snapshot = await sendingSnapshot(mailbox, item, itemId);
    var selector = { itemId: snapshot.restItemId };
    for (var i = 0; i < open.length; i += 1) {
      await postLink(token, selector, { kind: open[i].kind, id: open[i].id }, snapshot);
      open[i].appliedAt = snapshot.sentAt || new Date().toISOString();
      applied += 1;
    }
  } finally {
    if (applied > 0) {
      properties.set(MAILSYNC_PENDING_PROPERTY, JSON.stringify(pending));
      await officeAsync(properties, "saveAsync");
    }
  }
  return applied;
}

async function onItemSend(event) {
  try {
    await withDeadline(
      applyPendingLinksOnSend(Office.context.mailbox),
      MAILSYNC_SEND_DEADLINE_MS,
      "applying the CRM links"
    );
  } catch (error) {
    // Never a reason to hold the mail back: the links stay pending on the item.
    console.warn("mailsync: links stay pending on the item, applied from the sent copy", error);
  } finally {
    event.completed({ allowEvent: true });
  }
}

/** OnMessageSend handler named in both manifests (LaunchEvent FunctionName / actionId). */
function onMessageSendHandler(event) {
  return onItemSend(event);
}

/** OnAppointmentSend handler named in both manifests. */
function onAppointmentSendHandler(event) {
  return onItemSend(event);
}

// Older clients look the function up by name on the global object (XML manifest);
// newer ones and the unified manifest use Office.actions.associate. Event handlers must be
// associated as soon as the script runs (the JavaScript-only runtime may fire the event
// before Office.onReady resolves); the button's association keeps its onReady timing.
function mailsyncAssociate(names) {
  if (typeof Office !== "undefined" && Office.actions && Office.actions.associate) {
    names.forEach(function (pair) {
      Office.actions.associate(pair[0], pair[1]);
    });
    return true;
  }
  return false;
}

var MAILSYNC_SEND_HANDLERS = [
  ["onMessageSendHandler", onMessageSendHandler],
  ["onAppointmentSendHandler", onAppointmentSendHandler],
];
var mailsyncSendAssociated = mailsyncAssociate(MAILSYNC_SEND_HANDLERS);

Office.onReady(function () {
  mailsyncAssociate([["trackInCrm", trackInCrm]]);
  if (!mailsyncSendAssociated) mailsyncSendAssociated = mailsyncAssociate(MAILSYNC_SEND_HANDLERS);
});
