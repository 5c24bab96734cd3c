//! Command-line arguments (clap) for every subcommand.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "lambda-reconciler",
    version,
    about = "Reconciles AWS Lambda configuration to YAML manifests (GitOps)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Default AWS region for manifests without spec.region (else AWS_REGION / the profile).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// AWS endpoint URL (for a local emulator); also read from AWS_ENDPOINT_URL.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Global limit on AWS control-plane calls per second (0: unlimited).
    #[arg(long, global = true, default_value_t = 10)]
    pub aws_rps: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Directory of manifests (searched recursively for *.yaml / *.yml).
    #[arg(short = 'm', long = "manifests", default_value = "./manifests")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every manifest; exit 0 when valid, 1 when not.
    Validate {
        #[command(flatten)]
        manifests: ManifestArgs,
    },
    /// Show what apply would change.
    Plan {
        #[command(flatten)]
        manifests: ManifestArgs,
        /// Exit 0 when nothing differs, 2 when changes are pending, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Plan, execute and wait until converged (one shot).
    Apply {
        #[command(flatten)]
        manifests: ManifestArgs,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
        output: Output,
        /// Longest wait for one function update or provisioned concurrency to become READY.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        wait_timeout: Duration,
    },
}
