// Generates src/schema.d.ts from the repository's openapi.json with openapi-typescript.
//   node scripts/schema.mjs           write src/schema.d.ts        (npm run generate)
//   node scripts/schema.mjs --check   fail if it is out of date    (npm run check-generated)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const spec = resolve(root, "../../openapi.json");
const committed = join(root, "src/schema.d.ts");
const cli = join(root, "node_modules/openapi-typescript/bin/cli.js");
// A field with a default is optional in what a client sends (the generator would make it
// required), and an object schema without properties is `unknown`, not `never`.
const flags = ["--default-non-nullable", "false", "--empty-objects-unknown"];

function generate(output) {
  execFileSync(process.execPath, [cli, spec, ...flags, "--output", output], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
}

function readOrEmpty(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** The first line where the two texts differ, or null when they are the same. */
function firstDifference(have, want) {
  if (have === want) return null;
  const a = have.split("\n");
  const b = want.split("\n");
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return { line: i + 1, have: a[i] ?? "(end of file)", want: b[i] ?? "(end of file)" };
}

function check() {
  const dir = mkdtempSync(join(tmpdir(), "convlog-schema-"));
  try {
    const fresh = join(dir, "schema.d.ts");
    generate(fresh);
    const diff = firstDifference(readOrEmpty(committed), readFileSync(fresh, "utf8"));
    if (diff === null) {
      console.log("src/schema.d.ts matches ../../openapi.json");
      return true;
    }
    console.error(
      "src/schema.d.ts is out of date with ../../openapi.json: " +
        "run `npm run generate` in clients/typescript and commit the result.\n" +
        `  first difference, line ${diff.line}:\n` +
        `    committed: ${diff.have.trim()}\n` +
        `    generated: ${diff.want.trim()}`,
    );
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--check")) {
  if (!check()) process.exitCode = 1;
} else {
  generate(committed);
  console.log("wrote src/schema.d.ts");
}
