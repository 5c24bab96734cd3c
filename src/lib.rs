//! lambda-reconciler: reconciles AWS Lambda configuration to YAML manifests.
#![forbid(unsafe_code)]

pub mod admin;
pub mod alerts;
pub mod apply;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod controller;
pub mod desired;
pub mod export;
pub mod manifest;
pub mod metrics;
pub mod observed;
pub mod page;
pub mod plan;
pub mod progress;
pub mod reconcile;
pub mod remote;
pub mod set_code;
pub mod status;
pub mod trail;
pub mod types;
