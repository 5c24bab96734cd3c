//! lambda-reconciler: reconciles AWS Lambda configuration to YAML manifests.
#![forbid(unsafe_code)]

pub mod manifest;
