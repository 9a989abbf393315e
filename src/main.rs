use std::process::ExitCode;

use castellan::config::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // `castellan healthcheck`: the container's probe of a running castellan.
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return match castellan::http::probe_health_from_env().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("castellan: unhealthy: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("castellan: {error}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|error| {
        eprintln!("castellan: RUST_LOG is invalid ({error}); using \"info\"");
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt().with_env_filter(filter).init();

    match castellan::app::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("castellan: {error}");
            // 2, like a configuration error found before start-up: the
            // operator must fix something; restarting will not help.
            if error.is_configuration() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
