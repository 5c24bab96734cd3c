//! The integration suite, one test binary: each module drives the real binary and the local AWS
//! emulator (or checks committed files); `common` is the shared harness.

mod common;

mod accounts;
mod admin;
mod aws_rules;
mod browser;
mod code;
mod configs;
mod container;
mod corpus;
mod create;
mod daemon;
mod definition;
mod deploy;
mod events;
mod fast_rollback;
mod first_write;
mod gates;
mod ha;
mod judge;
mod judge_extra;
mod layers;
mod mappings;
mod markdown;
mod permissions;
mod policies;
mod policy_reads;
mod progress;
mod property;
mod publish;
mod readme;
mod reconcile;
mod releases;
mod reliability;
mod rollout;
mod safety;
mod schema;
mod secrets;
mod secrets_manager;
mod set_code;
mod settings;
mod snapshot;
mod swap;
mod urls;
mod webhooks;
