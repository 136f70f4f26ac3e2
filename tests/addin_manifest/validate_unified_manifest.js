// Validate a unified manifest with Microsoft's own validator from @microsoft/app-manifest.
// Usage: node validate_unified_manifest.js MANIFEST.json
// Prints a JSON array of error strings (empty when valid). Network access is disabled, so the
// schema must come from the copy the package ships for the version named by "$schema".
"use strict";
const fs = require("fs");

globalThis.fetch = () => {
  throw new Error("network access attempted: $schema names a version the package does not ship");
};

const { AppManifestUtils } = require("@microsoft/app-manifest");

(async () => {
  const manifest = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const errors = await AppManifestUtils.validateAgainstSchema(manifest);
  process.stdout.write(JSON.stringify(errors));
})().catch((error) => {
  process.stderr.write(String((error && error.stack) || error));
  process.exit(2);
});
