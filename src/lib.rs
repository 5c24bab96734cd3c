//! lambda-reconciler: reconciles AWS Lambda configuration to YAML manifests.
#![forbid(unsafe_code)]

pub mod apply;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod desired;
pub mod manifest;
pub mod observed;
pub mod plan;
pub mod reconcile;
pub mod types;
