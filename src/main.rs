#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use switchboard::config::{Config, LogFormat, Overrides};
use switchboard::startup::Application;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Switchboard: trigger webhooks, modules and drivers.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Copy a whole deployment from sled into an empty PostgreSQL database and verify the counts.
    MigrateStore(MigrateArgs),
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// The store to copy: sled:DIR (not in use by a running server).
    #[arg(long, value_name = "sled:DIR")]
    from: String,
    /// The empty database to copy into: postgres:URL.
    #[arg(long, value_name = "postgres:URL")]
    to: String,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// A TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    bind: Option<String>,
    /// Directory for the embedded store.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Base of the webhook URLs shown to admins.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Log line format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::MigrateStore(args)) => return migrate_store(args).await,
        None => cli.args,
    };
    let overrides = Overrides {
        bind: args.bind,
        data_dir: args.data_dir,
        public_url: args.public_url,
        log_format: args.log_format.map(|f| match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }),
    };
    let config = match Config::load(args.config.as_deref(), overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("switchboard: {e}");
            std::process::exit(2);
        }
    };
    switchboard::telemetry::init(config.log_format);

    let app = Application::build(config).await?;
    if let Some(key) = app.bootstrap_admin_key() {
        eprintln!(
            "\nNo API key was configured, so an admin key was created. It is shown only this once:\n\n    {key}\n\n\
             Send it as `X-API-Key: <key>` or `Authorization: Bearer <key>`; create more keys at\n\
             POST /api/engine/v2/api_keys. Only its hash is stored.\n"
        );
    }
    tracing::info!(port = app.port(), "switchboard listening");
    app.run_until_stopped().await
}

/// Prints the count table; a failure is one line on stderr and exit status 1.
async fn migrate_store(args: MigrateArgs) -> anyhow::Result<()> {
    match switchboard::store::migrate::migrate_store(&args.from, &args.to).await {
        Ok(verification) => {
            print!("{}", verification.table());
            println!("migrated: every count matches");
            Ok(())
        }
        Err(e) => {
            eprintln!("switchboard migrate-store: {e}");
            std::process::exit(1);
        }
    }
}
