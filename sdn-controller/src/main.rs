//! `sdn-controller`: one stateless controller replica. Settings: [`sdn_controller::config`].

use std::process::ExitCode;

use sdn_controller::config;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", config::USAGE);
        return ExitCode::SUCCESS;
    }
    let env = |k: &str| std::env::var(k).ok();
    let file = config::config_path(&args, &env).map(|path| {
        let text = std::fs::read_to_string(&path);
        (path, text)
    });
    let file = match file {
        Some((path, Ok(text))) => Some((path, text)),
        Some((path, Err(err))) => {
            eprintln!("sdn-controller: read config file {path}: {err}");
            return ExitCode::FAILURE;
        }
        None => None,
    };
    let config = match config::parse(
        &args,
        &env,
        file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
    ) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("sdn-controller: {err}");
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("sdn-controller: start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("shutting down");
        };
        sdn_controller::server::run(config, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sdn-controller: {err:#}");
            ExitCode::FAILURE
        }
    }
}
