//! The manifest's tri-state field (absent, null, value) and its policy enums: shared by the model,
//! the desired state and the planner.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// A field that may be absent (unmanaged), `null` (ensure absent) or set (owned exactly).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Field<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
    pub fn as_ref(&self) -> Field<&T> {
        match self {
            Field::Absent => Field::Absent,
            Field::Null => Field::Null,
            Field::Value(v) => Field::Value(v),
        }
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Field<U> {
        match self {
            Field::Absent => Field::Absent,
            Field::Null => Field::Null,
            Field::Value(v) => Field::Value(f(v)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Field::Null,
            Some(v) => Field::Value(v),
        })
    }
}

/// In the schema a field is optional and nullable (`null` means "ensure absent").
impl<T: JsonSchema> JsonSchema for Field<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Nullable_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Option<T>>::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(v) => v.serialize(s),
            _ => s.serialize_none(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DriftPolicy {
    #[default]
    Correct,
    Alert,
}

/// What happens to the configuration a manifest owned when the manifest is removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DeletionPolicy {
    /// Leave it as it is and stop managing it.
    #[default]
    Retain,
    /// Remove provisioned concurrency, scalable targets, event invoke configs and reserved
    /// concurrency it declared (and its aliases when `prune: true`), then forget it. A function
    /// the controller created (`create: true`, tag `lambda-reconciler.io/created-by` naming this
    /// manifest) is deleted whole, its versions and aliases with it.
    Delete,
}

/// Whether the controller publishes `$LATEST` as a new version when its managed configuration
/// changes (aliases with `functionVersion: published` then follow the newest such version).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PublishPolicy {
    /// Never publish (aliases name their versions).
    #[default]
    Never,
    /// Publish `$LATEST` after the controller changes its configuration, or when it differs from
    /// the newest version the controller published.
    OnChange,
}
