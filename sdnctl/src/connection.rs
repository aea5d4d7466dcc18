//! The channel to the controller: plaintext with `--insecure`, otherwise mutual TLS with the
//! operator's certificate.

use std::path::PathBuf;
use std::time::Duration;

use sdn_proto::v1::controller_client::ControllerClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::error::{Error, Result};

/// Where the controller is and how to talk to it.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` or a URL (`http://` with `--insecure`, `https://` otherwise).
    pub controller: String,
    /// Plaintext.
    pub insecure: bool,
    /// CA that signed the controller's certificate (PEM).
    pub ca: Option<PathBuf>,
    /// Operator client certificate (PEM).
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// Name to verify in the controller's certificate, when it differs from the URL's host.
    pub server_name: Option<String>,
    /// Per-call deadline.
    pub timeout: Duration,
}

/// The URL to dial: the scheme follows `insecure`; a contradicting explicit scheme is refused.
pub fn url(controller: &str, insecure: bool) -> Result<String> {
    let (scheme, rest) = match controller.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, controller),
    };
    match (scheme, insecure) {
        (None, true) | (Some("http"), true) => Ok(format!("http://{rest}")),
        (None, false) | (Some("https"), false) => Ok(format!("https://{rest}")),
        (Some("http"), false) => Err(Error::Usage(format!(
            "{controller} is plaintext: pass --insecure, or use https:// with --ca, --cert and --key"
        ))),
        (Some("https"), true) => Err(Error::Usage(format!(
            "--insecure talks plaintext but {controller} is https: use http:// or drop --insecure"
        ))),
        (Some(s), _) => Err(Error::Usage(format!(
            "--controller {controller}: unknown scheme `{s}` (use host:port, http:// or https://)"
        ))),
    }
}

fn read(what: &'static str, path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::ReadFile {
        what,
        path: path.display().to_string(),
        source,
    })
}

/// The full chain of an error, `: `-separated, on one line.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !parts.last().is_some_and(|p| p.contains(&s_text)) {
            parts.push(s_text);
        }
        cur = s.source();
    }
    crate::error::one_line(&parts.join(": "))
}

impl Target {
    /// The endpoint, with TLS configured unless insecure.
    pub fn endpoint(&self) -> Result<(String, Endpoint)> {
        let url = url(&self.controller, self.insecure)?;
        let mut ep = Endpoint::from_shared(url.clone())
            .map_err(|e| Error::Usage(format!("--controller {}: {e}", self.controller)))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(self.timeout);
        if !self.insecure {
            let (Some(ca), Some(cert), Some(key)) = (&self.ca, &self.cert, &self.key) else {
                return Err(Error::Usage(
                    "mutual TLS needs --ca, --cert and --key (or SDNCTL_CA, SDNCTL_CERT, SDNCTL_KEY); \
                     pass --insecure for a plaintext controller"
                        .into(),
                ));
            };
            let mut tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read("--ca", ca)?))
                .identity(Identity::from_pem(
                    read("--cert", cert)?,
                    read("--key", key)?,
                ));
            if let Some(name) = &self.server_name {
                tls = tls.domain_name(name.clone());
            }
            ep = ep
                .tls_config(tls)
                .map_err(|e| Error::Usage(format!("tls configuration: {}", chain(&e))))?;
        }
        Ok((url, ep))
    }

    /// Connects (eagerly, so an unreachable controller is reported as such).
    pub async fn connect(&self) -> Result<ControllerClient<Channel>> {
        let (url, ep) = self.endpoint()?;
        match ep.connect().await {
            Ok(ch) => Ok(ControllerClient::new(ch)),
            Err(e) => {
                let reason = chain(&e);
                let lower = reason.to_ascii_lowercase();
                if ["tls", "certificate", "handshake", "x509"]
                    .iter()
                    .any(|w| lower.contains(w))
                {
                    Err(Error::Handshake { url, reason })
                } else {
                    Err(Error::Unreachable { url, reason })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_follows_insecure() {
        assert_eq!(
            url("127.0.0.1:7450", true).unwrap(),
            "http://127.0.0.1:7450"
        );
        assert_eq!(url("ctl:7450", false).unwrap(), "https://ctl:7450");
        assert_eq!(url("http://ctl:1", true).unwrap(), "http://ctl:1");
        assert_eq!(url("https://ctl:1", false).unwrap(), "https://ctl:1");
        for (c, insecure) in [
            ("http://ctl:1", false),
            ("https://ctl:1", true),
            ("ftp://x", true),
        ] {
            let e = url(c, insecure).unwrap_err();
            assert_eq!(e.exit(), crate::error::Exit::Usage, "{c}");
        }
    }

    #[test]
    fn tls_needs_all_three_files() {
        let t = Target {
            controller: "ctl:7450".into(),
            insecure: false,
            ca: Some("/nonexistent/ca.pem".into()),
            cert: None,
            key: None,
            server_name: None,
            timeout: Duration::from_secs(1),
        };
        let e = t.endpoint().unwrap_err();
        assert!(e.to_string().contains("--ca, --cert and --key"), "{e}");
        let t = Target {
            cert: Some("/nonexistent/c.pem".into()),
            key: Some("/nonexistent/k.pem".into()),
            ..t
        };
        let e = t.endpoint().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read --ca /nonexistent/ca.pem"),
            "{e}"
        );
    }
}
