// Opens a trialog disclosure package with Apache Arrow's JavaScript
// implementation and prints its shape as JSON: an independent reader
// must see an ordinary table.
import { readFileSync } from "node:fs";
import { tableFromIPC } from "apache-arrow";

const table = tableFromIPC(readFileSync(process.argv[2]));
const meta = Object.fromEntries(table.schema.metadata);
console.log(JSON.stringify({
  rows: table.numRows,
  columns: table.schema.fields.map((f) => f.name),
  types: table.schema.fields.map((f) => String(f.type)),
  package: meta["trialog.package"] ?? null,
  first: table.numRows > 0 ? Object.fromEntries(
    table.schema.fields.filter((f) => !f.name.startsWith("_trialog")).map((f) => [f.name, String(table.getChild(f.name).get(0))])
  ) : null,
}));
