// Runs addin_manifest/static/commands.js in a node vm with a test double of Office.js and
// fetch, clicks "Track in CRM" once, and prints what the function did as JSON.
// Usage: node run_function_command.js SCENARIO_JSON
// SCENARIO: {mode: "read"|"compose", kind: "message"|"meeting", status: 200, links: [...],
//            token: "tok" | null (null = sign-in fails)}
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const scenario = JSON.parse(process.argv[2]);
const report = { calls: [], fetches: [], notifications: [], completed: 0, associated: [] };
const ok = (value) => ({ status: "succeeded", value });

function asyncProperty(name, value) {
  return {
    getAsync(...args) {
      report.calls.push(name + ".getAsync");
      args[args.length - 1](ok(value));
    },
  };
}

const people = [{ displayName: "Ann Buyer", emailAddress: "ann@customer.example" }];
const isMessage = scenario.kind === "message";
const item = {
  itemType: isMessage ? "message" : "appointment",
  body: asyncProperty("body", "Hello from the customer"),
  notificationMessages: {
    replaceAsync(key, message, callback) {
      report.notifications.push({ key, ...message });
      callback(ok(undefined));
    },
  },
};
if (scenario.mode === "read") {
  Object.assign(item, {
    itemId: "AAMkAD-ews-id",
    conversationId: "conv-1",
    subject: "Renewal",
  });
  if (isMessage) {
    Object.assign(item, {
      internetMessageId: "<m1@customer.example>",
      from: people[0],
      to: [{ displayName: "Sam Seller", emailAddress: "sam@ours.example" }],
      cc: [],
      dateTimeCreated: new Date("2026-01-02T03:04:05Z"),
      getAllInternetHeadersAsync(callback) {
        report.calls.push("getAllInternetHeadersAsync");
        callback(ok("Message-ID: <m1@customer.example>\r\nIn-Reply-To: <m0@ours.example>\r\n"));
      },
    });
  } else {
    Object.assign(item, {
      organizer: people[0],
      requiredAttendees: people,
      optionalAttendees: [],
      start: new Date("2026-01-05T09:00:00Z"),
      end: new Date("2026-01-05T10:00:00Z"),
    });
  }
} else {
  Object.assign(item, {
    subject: asyncProperty("subject", "Draft proposal"),
    to: asyncProperty("to", people),
    cc: asyncProperty("cc", []),
    requiredAttendees: asyncProperty("requiredAttendees", people),
    optionalAttendees: asyncProperty("optionalAttendees", []),
    start: asyncProperty("start", new Date("2026-01-05T09:00:00Z")),
    end: asyncProperty("end", new Date("2026-01-05T10:00:00Z")),
    internetHeaders: {
      setAsync(headers, callback) {
        report.calls.push("internetHeaders.setAsync:" + JSON.stringify(headers));
        callback(ok(undefined));
      },
    },
    saveAsync(callback) {
      report.calls.push("saveAsync");
      callback(ok("draft-id"));
    },
    getItemIdAsync(callback) {
      report.calls.push("getItemIdAsync");
      callback(ok("AAMkAD-saved-draft"));
    },
  });
}

const Office = {
  AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
  CoercionType: { Text: "text" },
  MailboxEnums: {
    ItemType: { Message: "message", Appointment: "appointment" },
    RestVersion: { v2_0: "v2.0" },
    ItemNotificationMessageType: {
      InformationalMessage: "informationalMessage",
      ErrorMessage: "errorMessage",
    },
  },
  context: {
    mailbox: { item, convertToRestId: (id, version) => "rest:" + version + ":" + id },
  },
  actions: { associate: (name, fn) => report.associated.push(name) && (handlers[name] = fn) },
  onReady(callback) {
    callback({ host: "Outlook" });
  },
};
const handlers = {};
const OfficeRuntime = {
  auth: {
    getAccessToken: async (options) => {
      report.calls.push("getAccessToken:" + JSON.stringify(options));
      if (scenario.token === null) throw new Error("User is not signed in (13001).");
      return scenario.token;
    },
  },
};
async function fetch(url, init) {
  report.fetches.push({ url, method: init.method, headers: init.headers, body: JSON.parse(init.body) });
  return {
    status: scenario.status,
    ok: scenario.status >= 200 && scenario.status < 300,
    json: async () => ({ links: scenario.links }),
  };
}

const context = vm.createContext({
  Office,
  OfficeRuntime,
  fetch,
  URL,
  console,
  document: { baseURI: "https://crm.example.com/sales/addin/commands.html" },
});
const source = path.join(__dirname, "..", "..", "addin_manifest", "static", "commands.js");
vm.runInContext(fs.readFileSync(source, "utf8"), context, { filename: source });

(async () => {
  const handler = handlers.trackInCrm;
  report.globalFunction = typeof context.trackInCrm === "function";
  await handler({ completed: () => (report.completed += 1) });
  process.stdout.write(JSON.stringify(report));
})().catch((error) => {
  process.stderr.write(String((error && error.stack) || error));
  process.exit(2);
});
