// A form from a tool's `inputSchema` (JSON Schema): one field per property, labelled with the
// property's name. Strings, numbers, integers, booleans and enums get their own inputs;
// arrays, objects and anything else a JSON editor. The pure half (fields, values,
// arguments) is separate from the markup so that its rules are read in one place.
import { html } from "./html.js";

/** The kind of input a property gets. */
export function kindOf(schema) {
  const type = Array.isArray(schema?.type)
    ? schema.type.find((t) => t !== "null")
    : schema?.type;
  if (
    Array.isArray(schema?.enum) &&
    schema.enum.length > 0 &&
    schema.enum.every((v) => typeof v === "string" || typeof v === "number")
  ) {
    return "enum";
  }
  if (type === "string") return "string";
  if (type === "integer") return "integer";
  if (type === "number") return "number";
  if (type === "boolean") return "boolean";
  return "json";
}

/** The name of the one field of a schema that names no properties but takes any. */
export const FREE_FORM = "arguments";

/**
 * The fields of an input schema, in the schema's order. A schema without properties that
 * does not forbid them (`{"type": "object"}`) gets one JSON field for the whole arguments
 * object.
 */
export function fieldsOf(inputSchema) {
  const properties = inputSchema?.properties ?? {};
  const required = new Set(inputSchema?.required ?? []);
  const fields = Object.entries(properties).map(([name, schema]) => ({
    name,
    schema,
    kind: kindOf(schema),
    required: required.has(name),
    description: schema?.description ?? "",
  }));
  if (fields.length === 0 && inputSchema?.additionalProperties !== false) {
    fields.push({
      name: FREE_FORM,
      schema: { type: "object" },
      kind: "json",
      required: false,
      freeForm: true,
      description: "The tool names no arguments but accepts any: a JSON object.",
    });
  }
  return fields;
}

/** The text each field starts with: its default when it has one. */
export function initialValues(fields) {
  const values = {};
  for (const field of fields) {
    const fallback = field.schema?.default;
    if (field.kind === "boolean") values[field.name] = fallback === true;
    // A required choice has no empty option: it starts on its first choice, as shown.
    else if (field.kind === "enum" && fallback === undefined && field.required) {
      values[field.name] = String(field.schema.enum[0]);
    }
    else if (fallback === undefined) values[field.name] = "";
    else if (field.kind === "json") values[field.name] = JSON.stringify(fallback, null, 2);
    else values[field.name] = String(fallback);
  }
  return values;
}

/**
 * The call's arguments from the form's values, or the problems that stop it:
 * `{arguments, problems: {name: message}}`. An empty optional field is left out; a boolean
 * is sent when it is required, has a default, or was changed (`touched`).
 */
export function argumentsOf(fields, values, touched = {}) {
  const args = {};
  const problems = {};
  for (const field of fields) {
    const value = values[field.name];
    if (field.kind === "boolean") {
      if (field.required || field.schema?.default !== undefined || touched[field.name]) {
        args[field.name] = value === true;
      }
      continue;
    }
    const text = typeof value === "string" ? value : "";
    if (text.trim() === "") {
      if (field.required) problems[field.name] = "required";
      continue;
    }
    switch (field.kind) {
      case "integer":
      case "number": {
        const number = Number(text);
        if (!Number.isFinite(number)) problems[field.name] = "not a number";
        else if (field.kind === "integer" && !Number.isInteger(number)) {
          problems[field.name] = "not a whole number";
        } else args[field.name] = number;
        break;
      }
      case "json": {
        let value;
        try {
          value = JSON.parse(text);
        } catch (error) {
          problems[field.name] = `not JSON: ${error.message}`;
          break;
        }
        if (!field.freeForm) args[field.name] = value;
        else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
          Object.assign(args, value);
        } else problems[field.name] = "not a JSON object";
        break;
      }
      case "enum":
        // The option's text back to the schema's value (numbers stay numbers).
        args[field.name] = field.schema.enum.find((option) => String(option) === text) ?? text;
        break;
      default:
        args[field.name] = text;
    }
  }
  return { arguments: args, problems };
}

/** The input of one field; `id` ties it to its label and hint. */
function Input({ field, id, value, onInput, invalid }) {
  const hint = field.description ? `${id}-hint` : undefined;
  const common = {
    id,
    name: field.name,
    required: field.required,
    "aria-describedby": hint,
    "aria-invalid": invalid ? "true" : undefined,
  };
  switch (field.kind) {
    case "boolean":
      return html`<input type="checkbox" ...${common} checked=${value === true}
        onChange=${(e) => onInput(e.currentTarget.checked)} />`;
    case "enum":
      return html`<select ...${common} value=${value} onChange=${(e) => onInput(e.currentTarget.value)}>
        ${field.required ? null : html`<option value="">—</option>`}
        ${field.schema.enum.map((option) => html`<option value=${option}>${option}</option>`)}
      </select>`;
    case "integer":
    case "number":
      return html`<input type="number" step=${field.kind === "integer" ? "1" : "any"} ...${common}
        value=${value} onInput=${(e) => onInput(e.currentTarget.value)} />`;
    case "json":
      return html`<textarea class="json" rows="4" spellcheck="false" ...${common}
        placeholder=${placeholderOf(field.schema)} value=${value}
        onInput=${(e) => onInput(e.currentTarget.value)}></textarea>`;
    default:
      return html`<input type="text" ...${common} value=${value}
        onInput=${(e) => onInput(e.currentTarget.value)} />`;
  }
}

function placeholderOf(schema) {
  const type = Array.isArray(schema?.type) ? schema.type.join(" | ") : schema?.type;
  if (type === "array") return "[ … ]  (JSON)";
  if (type === "object") return "{ … }  (JSON)";
  return "JSON";
}

/** The fields of a form; ids are `<prefix>-<position>` (a property name may hold anything). */
export function SchemaFields({ fields, values, problems, prefix, onChange }) {
  if (fields.length === 0) return html`<p class="muted">This tool takes no arguments.</p>`;
  return fields.map((field, position) => {
    const id = `${prefix}-${position}`;
    const problem = problems[field.name];
    // The label is the property's name and nothing else (its accessible name); whether the
    // field is required reaches assistive technology through the input's `required`.
    return html`<div class=${`field field-${field.kind}`} key=${field.name}>
      <div class="field-head">
        <label for=${id}><code>${field.name}</code></label>
        <span class="meta" aria-hidden="true">${field.required ? html`<span class="required" title="required">*</span>` : null}
          <span class="type">${typeLabel(field)}</span></span>
      </div>
      <${Input} field=${field} id=${id} value=${values[field.name]} invalid=${!!problem}
        onInput=${(value) => onChange(field.name, value)} />
      ${field.description ? html`<small id=${`${id}-hint`} class="hint">${field.description}</small>` : null}
      ${problem ? html`<small class="problem" role="alert">${field.name}: ${problem}</small>` : null}
    </div>`;
  });
}

function typeLabel(field) {
  if (field.kind === "enum") return "one of";
  if (field.kind === "json") {
    const type = Array.isArray(field.schema?.type) ? field.schema.type.join("|") : field.schema?.type;
    return `${type ?? "any"}, JSON`;
  }
  return field.kind;
}
