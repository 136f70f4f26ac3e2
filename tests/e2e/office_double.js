/*
 * Test double for the Outlook host, injected before the task pane's scripts run.
 *
 * The real office.js (from @microsoft/office-js) still loads and initialises; outside Office
 * it resolves Office.onReady with no host and leaves Office.context.mailbox undefined. This
 * double wraps Office.onReady so that, once the real initialisation is done, it installs a
 * mailbox with one item built from window.__officeDoubleConfig (set by the test), and it
 * provides OfficeRuntime.auth.getAccessToken with the tokens the test chose.
 *
 * Everything the pane does to the host is recorded in window.__officeDouble.calls, and the
 * item's custom properties in window.__officeDouble.customProperties, so tests can check
 * what the pane wrote on a draft.
 *
 * The same double hosts the function file (commands.html) for event-based activation:
 * window.__officeDoubleFire(name) plays Outlook raising a launch event (OnMessageSend,
 * OnAppointmentSend): it calls the handler the file associated (Office.actions.associate) or,
 * as older clients do, the global function of that name, with an event whose completed()
 * is recorded in window.__officeDouble.completed; the promise settles with its options.
 */
(function () {
  "use strict";
  // Init scripts run in every frame; the host exists for the pane's own document only.
  if (window.top !== window) return;
  var config = window.__officeDoubleConfig;
  if (!config) throw new Error("office double: window.__officeDoubleConfig is not set");
  var record = { calls: [], customProperties: {}, tokenRequests: [], completed: [] };
  var handlers = {};
  var markReady;
  // Outlook raises a launch event only once Office has initialised the function file.
  var ready = new Promise(function (resolve) {
    markReady = resolve;
  });
  window.__officeDouble = record;
  var spec = config.item || {};
  Object.keys(spec.customProperties || {}).forEach(function (name) {
    record.customProperties[name] = spec.customProperties[name];
  });

  function succeed(callback, value) {
    setTimeout(function () {
      callback({ status: Office.AsyncResultStatus.Succeeded, value: value, error: null });
    }, 0);
  }
  function failWith(callback, message) {
    setTimeout(function () {
      callback({ status: Office.AsyncResultStatus.Failed, value: undefined, error: { code: 9000, message: message } });
    }, 0);
  }
  function lastArgument(args) {
    return args[args.length - 1];
  }
  function getter(name, value) {
    return {
      getAsync: function () {
        record.calls.push(name + ".getAsync");
        succeed(lastArgument(arguments), value);
      },
    };
  }
  function date(value) {
    return value ? new Date(value) : null;
  }

  function customProperties() {
    var values = JSON.parse(JSON.stringify(record.customProperties));
    return {
      get: function (name) {
        return values[name];
      },
      set: function (name, value) {
        values[name] = value;
      },
      remove: function (name) {
        delete values[name];
      },
      getAll: function () {
        return values;
      },
      saveAsync: function () {
        record.calls.push("customProperties.saveAsync");
        record.customProperties = JSON.parse(JSON.stringify(values));
        succeed(lastArgument(arguments));
      },
    };
  }

  function readItem() {
    var message = spec.itemType === "message";
    var item = {
      itemType: spec.itemType,
      itemId: spec.itemId,
      conversationId: spec.conversationId || null,
      subject: spec.subject,
      dateTimeCreated: date(spec.dateTimeCreated),
      body: getter("body", spec.body || ""),
      categories: { getAsync: function (cb) { succeed(cb, spec.categories || []); } },
      notificationMessages: {
        replaceAsync: function (key, details, cb) {
          record.calls.push("notificationMessages.replaceAsync:" + details.message);
          succeed(cb);
        },
      },
      loadCustomPropertiesAsync: function (cb) {
        record.calls.push("loadCustomPropertiesAsync");
        succeed(cb, customProperties());
      },
    };
    if (message) {
      item.internetMessageId = spec.internetMessageId;
      item.from = spec.from;
      item.sender = spec.from;
      item.to = spec.to || [];
      item.cc = spec.cc || [];
      item.getAllInternetHeadersAsync = function (cb) {
        record.calls.push("getAllInternetHeadersAsync");
        succeed(cb, spec.headers || "");
      };
    } else {
      item.organizer = spec.organizer;
      item.requiredAttendees = spec.requiredAttendees || [];
      item.optionalAttendees = spec.optionalAttendees || [];
      item.start = date(spec.start);
      item.end = date(spec.end);
      item.location = spec.location || "";
    }
    return item;
  }

  function composeItem() {
    var message = spec.itemType === "message";
    var savedId = spec.itemId || null;
    var item = {
      itemType: spec.itemType,
      // Outlook assigns a new item's conversation id when it is saved.
      conversationId: savedId ? spec.conversationId || null : null,
      subject: getter("subject", spec.subject),
      body: getter("body", spec.body || ""),
      notificationMessages: {
        replaceAsync: function (key, details, cb) {
          record.calls.push("notificationMessages.replaceAsync:" + details.message);
          succeed(cb);
        },
      },
      loadCustomPropertiesAsync: function (cb) {
        record.calls.push("loadCustomPropertiesAsync");
        succeed(cb, customProperties());
      },
      saveAsync: function () {
        record.calls.push("saveAsync");
        savedId = savedId || (message ? "AAMkSavedDraft" : "AAMkSavedMeeting") + Date.now();
        record.savedItemId = savedId;
        item.conversationId = spec.conversationId || null;
        succeed(lastArgument(arguments), savedId);
      },
      getItemIdAsync: function () {
        record.calls.push("getItemIdAsync");
        var cb = lastArgument(arguments);
        if (savedId) succeed(cb, savedId);
        else failWith(cb, "The item has not been saved yet.");
      },
    };
    if (message) {
      item.to = getter("to", spec.to || []);
      item.cc = getter("cc", spec.cc || []);
      item.bcc = getter("bcc", spec.bcc || []);
      item.internetHeaders = {
        setAsync: function (headers, cb) {
          record.calls.push("internetHeaders.setAsync:" + JSON.stringify(headers));
          succeed(cb);
        },
      };
    } else {
      item.requiredAttendees = getter("requiredAttendees", spec.requiredAttendees || []);
      item.optionalAttendees = getter("optionalAttendees", spec.optionalAttendees || []);
      item.start = getter("start", date(spec.start));
      item.end = getter("end", date(spec.end));
      // Organizer mode: the organizer of a new meeting is the user (Mailbox 1.7).
      item.organizer = getter(
        "organizer",
        spec.organizer || { displayName: config.user.displayName, emailAddress: config.user.emailAddress }
      );
    }
    return item;
  }

  var mailbox = {
    item: !config.item ? null : config.mode === "compose" ? composeItem() : readItem(),
    userProfile: config.user,
    convertToRestId: function (itemId) {
      // What Exchange does: EWS ids are base64, REST ids its URL-safe form.
      return itemId.replace(/\//g, "-").replace(/\+/g, "_");
    },
  };

  var signedIn = false;
  window.OfficeRuntime = {
    auth: {
      getAccessToken: function (options) {
        var interactive = !!(options && options.allowSignInPrompt);
        record.tokenRequests.push(interactive ? "interactive" : "silent");
        if (interactive) {
          signedIn = true;
          return Promise.resolve(config.tokens.afterSignIn);
        }
        if (signedIn) return Promise.resolve(config.tokens.afterSignIn);
        if (config.tokens.silent) return Promise.resolve(config.tokens.silent);
        var error = new Error("The user is not signed in to Office.");
        error.code = 13001;
        return Promise.reject(error);
      },
    },
  };

  window.__officeDoubleFire = function (name) {
    return ready.then(function () {
      return raise(name);
    });
  };
  function raise(name) {
    return new Promise(function (resolve, reject) {
      var handler = handlers[name] || window[name];
      if (typeof handler !== "function") {
        reject(new Error("office double: no handler " + name + " in the function file"));
        return;
      }
      record.calls.push("fire:" + name);
      handler({
        type: name,
        completed: function (options) {
          record.completed.push({ handler: name, options: options === undefined ? null : options });
          resolve(options === undefined ? null : options);
        },
      });
    });
  }

  // office.js has run when the document turns interactive (it is a blocking script in the
  // head); the pane's module runs right after, so this is the moment to wrap onReady.
  document.addEventListener("readystatechange", function () {
    if (document.readyState !== "interactive") return;
    if (typeof Office === "undefined" || typeof Office.onReady !== "function") {
      throw new Error("office double: office.js did not load");
    }
    Office.MailboxEnums = Office.MailboxEnums || {
      ItemType: { Message: "message", Appointment: "appointment" },
      RestVersion: { v1_0: "v1.0", v2_0: "v2.0", Beta: "beta" },
      ItemNotificationMessageType: {
        InformationalMessage: "informationalMessage",
        ErrorMessage: "errorMessage",
        ProgressIndicator: "progressIndicator",
      },
    };
    var realOnReady = Office.onReady;
    // A function file calls Office.onReady before this point (classic scripts run while the
    // document loads); give its later event handlers the mailbox all the same.
    realOnReady.call(Office).then(function () {
      Office.context.mailbox = mailbox;
      markReady();
    });
    var realActions = Office.actions;
    Office.actions = {
      associate: function (name, handler) {
        handlers[name] = handler;
        if (realActions && typeof realActions.associate === "function") {
          realActions.associate(name, handler);
        }
      },
    };
    Office.onReady = function (callback) {
      return realOnReady.call(Office).then(function () {
        Office.context.mailbox = mailbox;
        var info = { host: "Outlook", platform: "OfficeOnline" };
        if (callback) callback(info);
        return info;
      });
    };
  });
})();
