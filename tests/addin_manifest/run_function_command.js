// Runs addin_manifest/static/commands.js in a node vm with a test double of Office.js and
// fetch, runs one handler once ("Track in CRM" unless `handler` names a send handler), and
// prints what the function did as JSON.
// Usage: node run_function_command.js SCENARIO_JSON
// SCENARIO: {mode: "read"|"compose", kind: "message"|"meeting", status: 200, links: [...],
//            token: "tok" | null (null = sign-in fails), handler: "trackInCrm",
//            customProperties: {name: value}, linkStatuses: [201, 500, ...] (POST items/links
//            answers in order), hang: false (true = the backend never answers),
//            jsRuntime: false (true = classic Outlook's JavaScript-only runtime: no document,
//            the script's URL in Office.context.urls)}
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const scenario = JSON.parse(process.argv[2]);
const report = {
  calls: [],
  fetches: [],
  notifications: [],
  completed: 0,
  completedWith: [],
  associated: [],
  customProperties: null,
};
const stored = Object.assign({}, scenario.customProperties || {});
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
  loadCustomPropertiesAsync(callback) {
    report.calls.push("loadCustomPropertiesAsync");
    const values = Object.assign({}, stored);
    callback(
      ok({
        get: (name) => values[name],
        set: (name, value) => (values[name] = value),
        remove: (name) => delete values[name],
        saveAsync(done) {
          report.calls.push("customProperties.saveAsync");
          report.customProperties = Object.assign({}, values);
          done(ok(undefined));
        },
      })
    );
  },
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
    mailbox: {
      item,
      userProfile: { displayName: "Sam Seller", emailAddress: "sam@ours.example" },
      convertToRestId: (id, version) => "rest:" + version + ":" + id,
    },
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
const linkStatuses = (scenario.linkStatuses || []).slice();
async function fetch(url, init) {
  report.fetches.push({ url, method: init.method, headers: init.headers, body: JSON.parse(init.body) });
  if (scenario.hang) return new Promise(() => {});
  const status = url.endsWith("/items/links") ? linkStatuses.shift() || 201 : scenario.status;
  return {
    status,
    ok: status >= 200 && status < 300,
    json: async () => ({ links: scenario.links }),
    text: async () => "{}",
  };
}

const globals = { Office, OfficeRuntime, fetch, URL, console, setTimeout, clearTimeout, Date };
if (scenario.jsRuntime) {
  Office.context.urls = { javascriptRuntimeUrl: "https://crm.example.com/sales/addin/commands.js" };
} else {
  globals.document = { baseURI: "https://crm.example.com/sales/addin/commands.html" };
}
const context = vm.createContext(globals);
const source = path.join(__dirname, "..", "..", "addin_manifest", "static", "commands.js");
vm.runInContext(fs.readFileSync(source, "utf8"), context, { filename: source });

(async () => {
  const name = scenario.handler || "trackInCrm";
  const handler = handlers[name];
  report.globalFunction = typeof context[name] === "function";
  const started = Date.now();
  await handler({
    completed: (options) => {
      report.completed += 1;
      report.completedWith.push(options === undefined ? null : options);
    },
  });
  report.elapsedMs = Date.now() - started;
  process.stdout.write(JSON.stringify(report));
})().catch((error) => {
  process.stderr.write(String((error && error.stack) || error));
  process.exit(2);
});
