/*
 * The task pane's one way to get an access token for our backend.
 *
 * Everything that asks for a token goes through getAccessToken(), so the pane never knows
 * which sign-in mechanism the host offers, and a test replaces exactly one call (the host's
 * OfficeRuntime.auth.getAccessToken) to drive every sign-in state.
 *
 * Office SSO (OfficeRuntime.auth.getAccessToken) is used because Office provides it without
 * shipping a second library. Nested app authentication (MSAL.js
 * createNestablePublicClientApplication) is Microsoft's recommendation for new add-ins; it
 * plugs in here as another branch (acquireTokenSilent, then acquireTokenPopup when
 * `interactive`), without touching the rest of the pane.
 */

/** Sign-in is needed (or was refused): the pane shows a "Sign in" button, never a crash. */
export class SignInRequired extends Error {
  constructor(message) {
    super(message);
    this.name = "SignInRequired";
  }
}

/** This host cannot give tokens at all: nothing the user can click will fix it here. */
export class SignInUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = "SignInUnavailable";
  }
}

// Office SSO error codes (learn.microsoft.com, "Troubleshoot error messages for SSO").
// Any other failure (13001 not signed in, 13002 cancelled, 13005 no consent, 13006/13007
// host hiccups, 13008 a call already running) is something a click on "Sign in" can fix.
const NOT_HERE = new Set([13000, 13003, 13004, 13012]);

/**
 * A bearer token for the mailsync API.
 *
 * `interactive: false` (page load) must not pop up anything: Office would show its sign-in
 * dialog unasked. `interactive: true` is only used from the user's click on "Sign in".
 */
export async function getAccessToken({ interactive = false } = {}) {
  const runtime = globalThis.OfficeRuntime;
  if (!runtime || !runtime.auth || typeof runtime.auth.getAccessToken !== "function") {
    throw new SignInUnavailable(
      "This Outlook cannot sign in to add-ins (Office single sign-on is missing). " +
        "Use Outlook on the web or a current Outlook for Windows or Mac."
    );
  }
  try {
    return await runtime.auth.getAccessToken({
      allowSignInPrompt: interactive,
      allowConsentPrompt: interactive,
      forMSGraphAccess: false,
    });
  } catch (error) {
    const code = error && typeof error.code === "number" ? error.code : null;
    const detail = (error && error.message) || String(error);
    if (code !== null && NOT_HERE.has(code)) {
      throw new SignInUnavailable(`Sign-in is not possible here (${code}): ${detail}`);
    }
    console.warn("mailsync: no token without the user", code, detail);
    throw new SignInRequired(
      code === 13002 ? "Sign-in was cancelled." : "Sign in to see this item in the CRM."
    );
  }
}
