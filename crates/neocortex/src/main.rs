//! `neocortex`: one binary for every Neocortex component. With no arguments it runs them all in
//! one process on embedded defaults.

use std::process::ExitCode;

use neocortex::load::{parse_command_line, to_yaml, Invocation};
use neocortex::{app, config};
use tracing_subscriber::EnvFilter;

/// mimalloc: the push path allocates many small strings; it is markedly faster there than glibc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let invocation = match parse_command_line(std::env::args().skip(1)) {
        Ok(invocation) => invocation,
        Err(err) => {
            if let Some(clap_error) = err.downcast_ref::<clap::Error>() {
                let _ = clap_error.print();
                return if clap_error.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
            }
            eprintln!("error: {err:#}");
            return ExitCode::from(1);
        }
    };
    let config = match invocation {
        Invocation::Version => {
            println!("neocortex, version {} (rust {})", env!("CARGO_PKG_VERSION"), rustc_version());
            return ExitCode::SUCCESS;
        }
        Invocation::PrintConfig(config) => {
            print!("{}", to_yaml(&config));
            return ExitCode::SUCCESS;
        }
        Invocation::Run(config) => config,
    };

    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.server.log_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(*config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(config: config::Config) -> anyhow::Result<()> {
    let running = app::start(config).await?;
    // Tests and scripts read the bound ports from this line.
    eprintln!("listening on http={} grpc={}", running.http_addr, running.grpc_addr);
    wait_for_signal().await;
    tracing::info!("shutting down: no new requests, finishing in-flight ones");
    running.shutdown();
    running.wait().await
}

async fn wait_for_signal() {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(err) => {
            tracing::error!(%err, "cannot listen for SIGTERM; waiting for SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn rustc_version() -> &'static str {
    option_env!("RUSTC_VERSION").unwrap_or("1.95")
}
