// api-smart-diff's comparison of two OpenAPI documents, for contract/gate.py: reads the base's and
// the head's paths from argv, prints the classified changes as one JSON array on stdout.
import { readFileSync } from "node:fs";
import { apiCompare } from "api-smart-diff";

const [before, after] = process.argv.slice(2).map((path) => JSON.parse(readFileSync(path, "utf8")));
const { diffs } = apiCompare(before, after);
const changes = diffs.map(({ type, action, path, description, before, after }) => ({ type, action, path, description, before, after }));
process.stdout.write(JSON.stringify(changes));
