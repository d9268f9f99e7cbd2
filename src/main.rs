use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc: every query allocates its packets, plans and rows; glibc's malloc and free cost
/// ~8% of the gateway's and the tablets' CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = tessera::cli::Cli::parse();
    let default_level = if matches!(cli.command, tessera::cli::Command::Node(_)) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)))
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, never in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match tessera::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
