//! Just enough JSON Schema (as utoipa writes `OpenAPI` 3.1 schemas) to hold
//! real responses against the document: `$ref`, `type` (one or a list),
//! `properties` with `required` and no undocumented keys unless
//! `additionalProperties`, `items`, `enum`, `oneOf`/`anyOf`/`allOf`. A
//! schema without properties is a free-form object.

#![allow(dead_code)]

use serde_json::Value;

/// Why `value` does not match `schema`, with the JSON path; `Ok` when it
/// does.
pub fn validate(doc: &Value, schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("{path}: unsupported $ref {r}"))?;
        let target = doc
            .pointer(&format!("/components/schemas/{name}"))
            .ok_or_else(|| format!("{path}: $ref {r} names no schema"))?;
        return validate(doc, target, value, path);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let errors: Vec<String> = options
                .iter()
                .filter_map(|s| validate(doc, s, value, path).err())
                .collect();
            if errors.len() == options.len() {
                return Err(format!(
                    "{path}: matches no {key} branch: {}",
                    errors.join(" | ")
                ));
            }
            return Ok(());
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(doc, s, value, path)?;
        }
        return Ok(());
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let fits = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !types.is_empty() && !fits {
            return Err(format!("{path}: {value} is not {types:?}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{path}: {value} not in {allowed:?}"));
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            validate(doc, items, v, &format!("{path}[{i}]"))?;
        }
    }
    if let (Some(props), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(req) {
                return Err(format!("{path}: required {req:?} missing"));
            }
        }
        let open = schema
            .get("additionalProperties")
            .is_some_and(|a| a != &Value::Bool(false));
        for (k, v) in object {
            match props.get(k) {
                Some(s) => validate(doc, s, v, &format!("{path}.{k}"))?,
                None if open => {}
                None => return Err(format!("{path}: undocumented property {k:?}")),
            }
        }
    }
    Ok(())
}

/// The schema of the `status` response of `method path` (JSON content).
pub fn response_schema<'a>(
    doc: &'a Value,
    path: &str,
    method: &str,
    status: u16,
) -> Option<&'a Value> {
    let op = doc.pointer(&format!(
        "/paths/{}/{method}",
        path.replace('~', "~0").replace('/', "~1")
    ))?;
    op.pointer(&format!(
        "/responses/{status}/content/application~1json/schema"
    ))
}

/// Whether `method path` documents `status`.
pub fn documents_status(doc: &Value, path: &str, method: &str, status: u16) -> bool {
    doc.pointer(&format!(
        "/paths/{}/{method}/responses/{status}",
        path.replace('~', "~0").replace('/', "~1")
    ))
    .is_some()
}
