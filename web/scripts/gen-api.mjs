// Generates src/api/schema.d.ts from the server's OpenAPI document
// (../docs/openapi.json, committed by the server build) when it exists, so an
// API change that breaks the UI breaks `tsc`. Without the document the
// hand-written types in src/api/types.ts are used and this is a no-op.
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const spec = join(web, "..", "docs", "openapi.json");
if (!existsSync(spec)) {
  console.log(`gen: ${spec} not found; using hand-written API types`);
  process.exit(0);
}
execFileSync(
  process.execPath,
  [
    join(web, "node_modules", "openapi-typescript", "bin", "cli.js"),
    spec,
    "-o",
    join(web, "src", "api", "schema.d.ts"),
  ],
  { stdio: "inherit" },
);
