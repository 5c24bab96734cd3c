//! The manifest's JSON Schema, generated from the model types.

use super::model::Document;

/// The schema as pretty JSON (what `lambda-reconciler schema` prints and `manifests/schema.json` holds).
pub fn json() -> String {
    let mut schema = schemars::schema_for!(Document);
    schema.insert("title".into(), "lambda-reconciler FunctionConfig".into());
    let mut value = schema.to_value();
    drop_null_defaults(&mut value);
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// An absent field is unmanaged, not `null` ("ensure absent"): don't suggest `null` as a default.
fn drop_null_defaults(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            if m.get("default").is_some_and(|d| d.is_null()) {
                m.remove("default");
            }
            m.values_mut().for_each(drop_null_defaults);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}
