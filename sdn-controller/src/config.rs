//! The controller's settings: defaults, then a TOML config file, then `SDN_CONTROLLER_*` environment
//! variables, then command-line flags (each layer overrides the one before). Pure: parsing takes the
//! arguments, the environment and the file's text, and reads nothing itself.
//!
//! | flag | env | file key | default |
//! | --- | --- | --- | --- |
//! | `--config PATH` | `SDN_CONTROLLER_CONFIG` | | none |
//! | `--etcd-endpoints URL[,URL]` | `SDN_CONTROLLER_ETCD_ENDPOINTS` | `etcd_endpoints` | `http://127.0.0.1:2379` |
//! | `--listen ADDR` | `SDN_CONTROLLER_LISTEN` | `listen` | `127.0.0.1:7450` |
//! | `--metrics-listen ADDR` | `SDN_CONTROLLER_METRICS_LISTEN` | `metrics_listen` | `127.0.0.1:9450` |
//! | `--tls-cert PATH` | `SDN_CONTROLLER_TLS_CERT` | `tls_cert` | none |
//! | `--tls-key PATH` | `SDN_CONTROLLER_TLS_KEY` | `tls_key` | none |
//! | `--tls-client-ca PATH` | `SDN_CONTROLLER_TLS_CLIENT_CA` | `tls_client_ca` | none |
//! | `--insecure` | `SDN_CONTROLLER_INSECURE=true` | `insecure` | false |
//! | `--queue-capacity N` | `SDN_CONTROLLER_QUEUE_CAPACITY` | `queue_capacity` | 64 |
//! | `--log-format text\|json` | `SDN_CONTROLLER_LOG_FORMAT` | `log_format` | `text` |
//!
//! Without `--insecure`, the three TLS paths are required: the server presents `tls_cert`, and
//! accepts only clients whose certificate `tls_client_ca` signed (see [`crate::identity`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Usage text of the binary.
pub const USAGE: &str = "\
usage: sdn-controller [--config PATH] [--etcd-endpoints URL[,URL...]] [--listen ADDR]
                      [--metrics-listen ADDR] [--tls-cert PATH --tls-key PATH --tls-client-ca PATH]
                      [--insecure] [--queue-capacity N] [--log-format text|json]
Every flag also reads from SDN_CONTROLLER_<FLAG> (upper case, '-' -> '_') and from the config file.";

/// The settings of one controller replica.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// etcd client URLs.
    pub etcd_endpoints: Vec<String>,
    /// Address of the gRPC listener (API, sync, reflection, health).
    pub listen: SocketAddr,
    /// Address of the HTTP listener serving `/metrics`.
    pub metrics_listen: SocketAddr,
    /// Server certificate (PEM).
    pub tls_cert: Option<PathBuf>,
    /// Server key (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA that signs client certificates (PEM).
    pub tls_client_ca: Option<PathBuf>,
    /// Plaintext, no client authentication.
    pub insecure: bool,
    /// Messages an agent may have waiting before it gets a fresh snapshot instead.
    pub queue_capacity: usize,
    /// `text` or `json` logs.
    pub log_format: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            etcd_endpoints: vec!["http://127.0.0.1:2379".into()],
            listen: SocketAddr::from(([127, 0, 0, 1], 7450)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9450)),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            insecure: false,
            queue_capacity: 64,
            log_format: "text".into(),
        }
    }
}

/// A setting that does not parse, or a missing one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A flag or variable has a bad value.
    #[error("{name}: {value:?} is not a valid {expected}")]
    Invalid {
        /// Flag or variable.
        name: String,
        /// The value.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// An unknown flag.
    #[error("unknown flag {0}; see --help")]
    UnknownFlag(String),
    /// A flag without its value.
    #[error("{0} needs a value")]
    MissingValue(String),
    /// The config file does not parse.
    #[error("config file {path}: {message}")]
    File {
        /// Its path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// TLS settings are incomplete.
    #[error(
        "set --tls-cert, --tls-key and --tls-client-ca (mutual TLS), or pass --insecure for plaintext"
    )]
    TlsIncomplete,
}

/// Flag names that take a value, without their `--`.
const KEYS: [&str; 9] = [
    "etcd-endpoints",
    "listen",
    "metrics-listen",
    "tls-cert",
    "tls-key",
    "tls-client-ca",
    "insecure",
    "queue-capacity",
    "log-format",
];

fn set(config: &mut Config, name: &str, key: &str, value: &str) -> Result<(), ConfigError> {
    let invalid = |expected| ConfigError::Invalid {
        name: name.into(),
        value: value.into(),
        expected,
    };
    match key {
        "etcd-endpoints" => {
            config.etcd_endpoints = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            if config.etcd_endpoints.is_empty() {
                return Err(invalid("list of etcd URLs"));
            }
        }
        "listen" => {
            config.listen = value
                .parse()
                .map_err(|_| invalid("address such as 127.0.0.1:7450"))?
        }
        "metrics-listen" => {
            config.metrics_listen = value
                .parse()
                .map_err(|_| invalid("address such as 127.0.0.1:9450"))?;
        }
        "tls-cert" => config.tls_cert = Some(value.into()),
        "tls-key" => config.tls_key = Some(value.into()),
        "tls-client-ca" => config.tls_client_ca = Some(value.into()),
        "insecure" => {
            config.insecure = match value {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(invalid("boolean (true or false)")),
            }
        }
        "queue-capacity" => {
            config.queue_capacity = value
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("positive number"))?;
        }
        "log-format" => {
            if value != "text" && value != "json" {
                return Err(invalid("log format (text or json)"));
            }
            config.log_format = value.into();
        }
        _ => return Err(ConfigError::UnknownFlag(format!("--{key}"))),
    }
    Ok(())
}

fn env_name(key: &str) -> String {
    format!("SDN_CONTROLLER_{}", key.to_uppercase().replace('-', "_"))
}

/// The config file path named by the flags or the environment.
pub fn config_path(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    args.iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--config=").map(String::from))
        })
        .or_else(|| env("SDN_CONTROLLER_CONFIG"))
}

/// Builds the settings from the config file text (with its path), the environment and the flags.
pub fn parse(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<(&str, &str)>,
) -> Result<Config, ConfigError> {
    let mut config = match file {
        Some((path, text)) => toml::from_str(text).map_err(|e| ConfigError::File {
            path: path.into(),
            message: e.message().to_string(),
        })?,
        None => Config::default(),
    };
    for key in KEYS {
        let name = env_name(key);
        if let Some(value) = env(&name) {
            set(&mut config, &name, key, &value)?;
        }
    }
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(ConfigError::UnknownFlag(arg.clone()));
        };
        let (key, inline) = match flag.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (flag, None),
        };
        if key != "config" && !KEYS.contains(&key) {
            return Err(ConfigError::UnknownFlag(arg.clone()));
        }
        if key == "insecure" && inline.is_none() {
            config.insecure = true;
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| ConfigError::MissingValue(arg.clone()))?,
        };
        if key == "config" {
            continue;
        }
        set(&mut config, arg, key, &value)?;
    }
    if !config.insecure
        && (config.tls_cert.is_none() || config.tls_key.is_none() || config.tls_client_ca.is_none())
    {
        return Err(ConfigError::TlsIncomplete);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn layers_override_in_order() {
        let file = r#"
etcd_endpoints = ["http://198.18.0.1:2379"]
listen = "127.0.0.1:1000"
queue_capacity = 8
insecure = true
"#;
        let env = |k: &str| (k == "SDN_CONTROLLER_LISTEN").then(|| "127.0.0.1:2000".to_string());
        let c = parse(
            &args(&["--queue-capacity", "16", "--config", "x.toml"]),
            &env,
            Some(("x.toml", file)),
        )
        .unwrap();
        assert_eq!(
            c.etcd_endpoints,
            ["http://198.18.0.1:2379"],
            "from the file"
        );
        assert_eq!(c.listen.port(), 2000, "env beats the file");
        assert_eq!(c.queue_capacity, 16, "flags beat everything");
        assert!(c.insecure);
        assert_eq!(
            config_path(&args(&["--config", "x.toml"]), &|_| None).as_deref(),
            Some("x.toml")
        );
    }

    #[test]
    fn refusals_say_what_to_do() {
        let none = |_: &str| None;
        assert_eq!(parse(&[], &none, None), Err(ConfigError::TlsIncomplete));
        let err = parse(&args(&["--insecure", "--listen", "nowhere"]), &none, None).unwrap_err();
        assert!(err.to_string().contains("127.0.0.1:7450"), "{err}");
        assert_eq!(
            parse(&args(&["--bogus"]), &none, None),
            Err(ConfigError::UnknownFlag("--bogus".into()))
        );
        let err = parse(&[], &none, Some(("c.toml", "nope = 1"))).unwrap_err();
        assert!(err.to_string().starts_with("config file c.toml"), "{err}");
    }
}
