//! Manifests: the YAML model, loading a directory into a snapshot, and validation.

pub mod across;
mod analysis_query_rules;
mod analysis_rules;
pub mod code;
pub mod configs_model;
pub mod definition;
pub mod definition_rules;
pub mod deploy_rules;
pub mod function_rules;
pub mod load;
pub mod mapping_rules;
pub mod model;
pub mod permission_rules;
pub mod release_rules;
pub mod revision;
pub mod schema;
pub mod settings_rules;
pub mod snapshot;
pub mod url_model;
pub mod url_rules;
pub mod validate;
pub mod warnings;
pub mod yaml;

pub use load::{load_dir, load_file, scan_dir, scan_snapshot, FileResult, LoadError, ParseCache, PathNow};
pub use model::*;
pub use snapshot::{error_at, Manifest, ManifestError, Snapshot};

#[cfg(test)]
mod validate_tests;
