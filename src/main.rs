use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc: every query allocates its packets, plans and rows; glibc's malloc and free cost
/// ~8% of the gateway's and the tablets' CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = tessera::cli::Cli::parse();
    let default_level = if matches!(cli.command, tessera::cli::Command::Node(_)) { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json().init();
    } else {
        // Colour codes only on a terminal, never in a log file.
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
    if !matches!(cli.command, tessera::cli::Command::Node(_)) {
        // A command whose output goes to a pipe that closes (`tessera ctl ... | head`) ends
        // quietly, as other command-line tools do, instead of failing to print.
        // SAFETY: restoring a signal's default disposition touches no memory of ours.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match tessera::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
