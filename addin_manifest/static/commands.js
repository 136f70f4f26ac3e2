/*
 * Function file of the mailsync Outlook add-in: the "Track in CRM" button.
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
 * Plain ES2017, no build step: it is served as is from addin_manifest/static/.
 */
"use strict";

var MAILSYNC_NOTIFICATION_KEY = "mailsyncTrack";
var MAILSYNC_TRACK_HEADER = "X-Mailsync-Track";
var MAILSYNC_MAX_NOTIFICATION = 150; // Outlook rejects longer notification messages.

/** The API root, derived from where this file is served (<base>/addin/commands.html). */
function mailsyncApiUrl(path) {
  return new URL("../api/v1/" + path, document.baseURI).toString();
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

/**
 * Compose mode: the item has no id until it is saved. A message also gets a header that marks
 * it for tracking, so the link is applied to the sent copy when the daemon syncs it.
 */
async function collectComposeItem(item) {
  var isMessage = item.itemType === Office.MailboxEnums.ItemType.Message;
  if (isMessage) {
    var header = {};
    header[MAILSYNC_TRACK_HEADER] = "1";
    await officeAsync(item.internetHeaders, "setAsync", header);
  }
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

/** A token for our backend from Office SSO; the task pane handles the interactive cases. */
async function mailsyncAccessToken() {
  if (typeof OfficeRuntime === "undefined" || !OfficeRuntime.auth) {
    throw new Error("Sign-in is not available here: open the CRM pane to sign in.");
  }
  return OfficeRuntime.auth.getAccessToken({ allowSignInPrompt: true, allowConsentPrompt: true });
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
  return describeLinks(result.links);
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

// Older clients look the function up by name on the global object (XML manifest);
// newer ones and the unified manifest use Office.actions.associate.
Office.onReady(function () {
  if (Office.actions && typeof Office.actions.associate === "function") {
    Office.actions.associate("trackInCrm", trackInCrm);
  }
});
