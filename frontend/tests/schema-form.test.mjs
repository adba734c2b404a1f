// The rules of the console's generated forms (frontend/app/lib/schema-form.js): which input
// a property gets, what a field starts with, and what the call's arguments become.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  FREE_FORM,
  argumentsOf,
  fieldsOf,
  initialValues,
  kindOf,
} from "../app/lib/schema-form.js";

test("each JSON Schema type gets its input", () => {
  assert.equal(kindOf({ type: "string" }), "string");
  assert.equal(kindOf({ type: "integer" }), "integer");
  assert.equal(kindOf({ type: "number" }), "number");
  assert.equal(kindOf({ type: "boolean" }), "boolean");
  assert.equal(kindOf({ type: "string", enum: ["a", "b"] }), "enum");
  assert.equal(kindOf({ type: ["string", "null"] }), "string");
  for (const other of [{ type: "array" }, { type: "object" }, { anyOf: [] }, {}, undefined]) {
    assert.equal(kindOf(other), "json", JSON.stringify(other));
  }
  assert.equal(kindOf({ type: "integer", enum: [1, 2] }), "enum");
  assert.equal(kindOf({ enum: [] }), "json");
});

test("fields keep the schema's order and mark what is required", () => {
  const fields = fieldsOf({
    type: "object",
    properties: { query: { type: "string", description: "Text" }, limit: { type: "integer" } },
    required: ["query"],
  });
  assert.deepEqual(
    fields.map((f) => [f.name, f.kind, f.required, f.description]),
    [
      ["query", "string", true, "Text"],
      ["limit", "integer", false, ""],
    ],
  );
});

test("a schema naming no properties takes a JSON object, unless it forbids any", () => {
  const [field] = fieldsOf({ type: "object", additionalProperties: true });
  assert.equal(field.name, FREE_FORM);
  assert.equal(field.kind, "json");
  assert.deepEqual(fieldsOf({ type: "object", additionalProperties: false }), []);
  const values = { [FREE_FORM]: '{"message": "hi", "n": 2}' };
  assert.deepEqual(argumentsOf([field], values), { arguments: { message: "hi", n: 2 }, problems: {} });
  assert.deepEqual(argumentsOf([field], { [FREE_FORM]: "[1]" }).problems, {
    [FREE_FORM]: "not a JSON object",
  });
});

test("defaults fill the form", () => {
  const fields = fieldsOf({
    properties: {
      s: { type: "string", default: "x" },
      n: { type: "number", default: 3 },
      b: { type: "boolean", default: true },
      off: { type: "boolean" },
      tags: { type: "array", default: ["a"] },
      none: { type: "string" },
    },
  });
  assert.deepEqual(initialValues(fields), {
    s: "x",
    n: "3",
    b: true,
    off: false,
    tags: '[\n  "a"\n]',
    none: "",
  });
});

test("values become typed arguments; empty optional fields are left out", () => {
  const fields = fieldsOf({
    properties: {
      text: { type: "string" },
      count: { type: "integer" },
      ratio: { type: "number" },
      items: { type: "array" },
      empty: { type: "string" },
    },
  });
  const { arguments: args, problems } = argumentsOf(fields, {
    text: "hello",
    count: "3",
    ratio: "2.5",
    items: '[1, "two"]',
    empty: "   ",
  });
  assert.deepEqual(problems, {});
  assert.deepEqual(args, { text: "hello", count: 3, ratio: 2.5, items: [1, "two"] });
});

test("each bad value is named, and required fields must be filled", () => {
  const fields = fieldsOf({
    properties: {
      need: { type: "string" },
      count: { type: "integer" },
      ratio: { type: "number" },
      data: { type: "object" },
    },
    required: ["need"],
  });
  const { problems } = argumentsOf(fields, { need: "", count: "1.5", ratio: "abc", data: "{" });
  assert.deepEqual(Object.keys(problems).sort(), ["count", "data", "need", "ratio"]);
  assert.equal(problems.need, "required");
  assert.equal(problems.count, "not a whole number");
  assert.equal(problems.ratio, "not a number");
  assert.match(problems.data, /^not JSON: /);
});

test("a boolean is sent when required, defaulted or changed, never made up", () => {
  const fields = fieldsOf({
    properties: {
      must: { type: "boolean" },
      defaulted: { type: "boolean", default: false },
      optional: { type: "boolean" },
    },
    required: ["must"],
  });
  const values = initialValues(fields);
  assert.deepEqual(argumentsOf(fields, values).arguments, { must: false, defaulted: false });
  values.optional = true;
  assert.deepEqual(argumentsOf(fields, values, { optional: true }).arguments, {
    must: false,
    defaulted: false,
    optional: true,
  });
});

test("an enum's empty choice leaves an optional field out", () => {
  const fields = fieldsOf({ properties: { level: { type: "string", enum: ["a", "b"] } } });
  assert.deepEqual(argumentsOf(fields, { level: "" }).arguments, {});
  assert.deepEqual(argumentsOf(fields, { level: "b" }).arguments, { level: "b" });
});

test("a numeric enum's choice is sent as the number", () => {
  const fields = fieldsOf({ properties: { size: { type: "integer", enum: [1, 10, 100] } } });
  assert.deepEqual(argumentsOf(fields, { size: "10" }).arguments, { size: 10 });
});
