//! Entry point: parses arguments, sets up logging, runs a subcommand, exits with its code.
#![forbid(unsafe_code)]

use clap::Parser;
use lambda_reconciler::apply::operator::Operator;
use lambda_reconciler::apply::Waits;
use lambda_reconciler::aws::AwsOptions;
use lambda_reconciler::cli::{Cli, Command, LogFormat};
use lambda_reconciler::commands;
use lambda_reconciler::manifest::revision::RevisionSource;

/// With `--features mimalloc`, mimalloc instead of the system's malloc: a resync allocates and
/// frees many small buffers on two threads (README, Performance: where the CPU goes), at the cost
/// of more resident memory; the default keeps the smaller footprint.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,lambda_reconciler=info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| lambda_reconciler::progress::LogWriter)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_logging(cli.global.log_format);
    let opts_aws = AwsOptions {
        region: cli.global.region.clone(),
        endpoint_url: cli.global.endpoint_url.clone(),
        rps: cli.global.aws_rps,
        snapshot_stale_after: match &cli.command {
            Command::Run(a) => Some(a.resync() / 2),
            _ => None,
        },
        fences: Default::default(),
    };
    let show = commands::Show {
        plain: !std::io::IsTerminal::is_terminal(&std::io::stderr()),
        json: cli.global.log_format == LogFormat::Json,
    };
    let code = match cli.command {
        Command::Validate { manifests } => commands::validate(&manifests.dir),
        Command::Plan { manifests, detailed_exitcode, output } => {
            commands::plan(&manifests.dir, &opts_aws, detailed_exitcode, output, show).await
        }
        Command::Apply { manifests, revision, output, wait_timeout, no_wait, alarm_poll } => {
            let waits = Waits { timeout: wait_timeout, alarm_poll, ..Waits::default() };
            let source = RevisionSource { flag: revision.revision, file: revision.revision_file };
            let rev = lambda_reconciler::manifest::revision::revision(&manifests.dir, &source);
            commands::apply(&manifests.dir, &opts_aws, output, (waits, !no_wait), (show, rev)).await
        }
        Command::Run(args) => {
            let args = *args;
            let resync = args.resync();
            let admin_token = match &args.admin_token_file {
                None => None,
                Some(path) => match std::fs::read_to_string(path) {
                    Ok(t) if !t.trim().is_empty() => Some(lambda_reconciler::admin::AdminToken::new(t.trim())),
                    Ok(_) => {
                        eprintln!("error: --admin-token-file {}: the token is empty", path.display());
                        std::process::exit(2);
                    }
                    Err(e) => {
                        eprintln!("error: --admin-token-file {}: {e}", path.display());
                        std::process::exit(2);
                    }
                },
            };
            let lease = args.lease_table.clone().map(|table| lambda_reconciler::controller::lease::LeaseOptions {
                table,
                name: args.lease_name.clone(),
                duration: args.lease_duration,
                heartbeat: args.lease_heartbeat,
                poll: args.lease_poll,
                shards: args.shards,
            });
            let webhook_secret = match (&args.alert_webhook_secret_file, args.alert_webhook_secret) {
                (Some(path), _) => match std::fs::read_to_string(path) {
                    Ok(s) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
                    Err(e) => {
                        eprintln!("error: --alert-webhook-secret-file {}: {e}", path.display());
                        std::process::exit(2);
                    }
                },
                (None, s) => s,
            };
            if args.admin_allowed_hosts.len() > lambda_reconciler::cli::MAX_ALLOWED_HOSTS {
                eprintln!("error: --admin-allowed-host: at most {} names", lambda_reconciler::cli::MAX_ALLOWED_HOSTS);
                std::process::exit(2);
            }
            use lambda_reconciler::{admin::limits, alerts::http};
            let webhook_timeout = lambda_reconciler::cli::within(
                args.alert_webhook_timeout,
                http::WEBHOOK_TIMEOUT,
                http::WEBHOOK_TIMEOUT_RANGE,
            )
            .unwrap_or_else(|e| {
                eprintln!("error: --alert-webhook-timeout: {e}");
                std::process::exit(2);
            });
            let header_timeout = lambda_reconciler::cli::within(
                args.admin_header_timeout,
                limits::HEADER_READ_TIMEOUT,
                limits::HEADER_READ_TIMEOUT_RANGE,
            )
            .unwrap_or_else(|e| {
                eprintln!("error: --admin-header-timeout: {e}");
                std::process::exit(2);
            });
            if webhook_secret.as_deref() == Some("") {
                eprintln!("error: the webhook signing secret is empty");
                std::process::exit(2);
            }
            let opts = lambda_reconciler::controller::RunOptions {
                revision: RevisionSource { flag: args.revision.revision, file: args.revision.revision_file },
                dir: args.manifests.dir,
                resync,
                listen: args.listen,
                webhook: args.alert_webhook,
                webhook_secret,
                webhook_timeout,
                sns_topic: args.alert_sns_topic,
                dry_run: args.dry_run,
                max_concurrent: args.max_concurrent_reconciles,
                debounce: args.debounce,
                shutdown_timeout: args.shutdown_timeout,
                waits: Waits { timeout: args.wait_timeout, alarm_poll: args.alarm_poll, ..Waits::default() },
                lease,
                admin_token,
                admin_allowed_hosts: args.admin_allowed_hosts,
                admin_header_timeout: header_timeout,
                events_queues: args.events_queue_urls,
                propagation_window: args.propagation_window,
            };
            if let Some(Err(e)) = opts.lease.as_ref().map(|l| l.check()) {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
            match lambda_reconciler::controller::run(opts, &opts_aws).await {
                Ok(()) => 0,
                Err(e @ lambda_reconciler::controller::RunError::Panicked(_)) => {
                    eprintln!("error: {e}");
                    70 // EX_SOFTWARE: an internal error; the orchestrator restarts the process
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            }
        }
        Command::Status { server, output, admin_token_file } => {
            lambda_reconciler::remote::status(&server, output, admin_token_file.as_deref()).await
        }
        Command::Promote(a) => commands::operate(&opts_aws, &a, Operator::Promote).await,
        Command::Abort(a) => commands::operate(&opts_aws, &a, Operator::Abort).await,
        Command::Retry(a) => commands::operate(&opts_aws, &a, Operator::Retry).await,
        Command::Export { function, aliases } => commands::export(&opts_aws, &function, &aliases).await,
        Command::SetCode(a) => {
            use lambda_reconciler::set_code::{command, NewCode};
            let flags = (a.s3.as_deref(), a.object_version.as_deref(), a.sha256.as_deref(), a.image_uri.as_deref());
            match NewCode::from_flags(flags.0, flags.1, flags.2, flags.3) {
                Ok(code) => command(&a.manifests.dir, &a.function, &code),
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
            }
        }
        Command::Schema => {
            print!("{}", lambda_reconciler::manifest::schema::json());
            0
        }
    };
    std::process::exit(code);
}
