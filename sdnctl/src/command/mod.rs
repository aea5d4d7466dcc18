//! Running a parsed command line against the controller: one module per resource kind, each a thin
//! shell over the pure request builders it tests.

mod group;
mod lb;
mod network;
mod node;
mod port;
mod status;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use sdn_proto::v1 as pb;
use sdn_proto::v1::controller_client::ControllerClient;
use tonic::transport::Channel;

use crate::cli::{Cli, Command, GroupAction, LbAction, NetworkAction, NodeAction, PortAction};
use crate::connection::Target;
use crate::error::{Error, Result};
use crate::output::{Format, Show, render};
use crate::view::ReceiptView;

/// Objects asked per page when listing.
pub const PAGE_SIZE: u32 = 500;

/// What a command needs: the client and the output format.
pub struct Ctx {
    /// The controller.
    pub client: ControllerClient<Channel>,
    /// `-o`.
    pub format: Format,
}

impl Ctx {
    /// Renders a view in the chosen format.
    pub fn show<T: Show>(&self, value: &T) -> Result<String> {
        render(self.format, value)
    }

    /// Renders an object, followed in table form by the receipt of a `--wait`.
    pub fn show_with_receipt<T: Show>(
        &self,
        value: &T,
        kind: &'static str,
        name: &str,
        receipt: Option<&pb::ConvergenceReceipt>,
    ) -> Result<String> {
        let mut out = self.show(value)?;
        if let (Format::Table, Some(r)) = (self.format, receipt) {
            out.push('\n');
            out.push_str(&ReceiptView::of(kind, name, r).table());
        }
        Ok(out)
    }
}

/// A `--wait` as the API's `Wait`.
pub fn wait(d: Option<Duration>) -> Option<pb::Wait> {
    d.map(|d| pb::Wait {
        timeout: prost_types::Duration::try_from(d).ok(),
    })
}

/// Reads every page (or up to `limit` objects); returns them with the last page's revision.
pub async fn list_all<T, F, Fut>(limit: Option<usize>, mut page: F) -> Result<(Vec<T>, i64)>
where
    F: FnMut(pb::ListRequest) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String, i64)>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let want = limit.map_or(PAGE_SIZE as usize, |l| {
            l.saturating_sub(items.len()).min(PAGE_SIZE as usize)
        });
        let (mut got, next, revision) = page(pb::ListRequest {
            page_size: want.max(1) as u32,
            page_token: token,
            ..Default::default()
        })
        .await?;
        items.append(&mut got);
        if let Some(l) = limit {
            items.truncate(l);
        }
        if next.is_empty() || limit.is_some_and(|l| items.len() >= l) {
            return Ok((items, revision));
        }
        token = next;
    }
}

/// The `--wait` of a command, if it has one (it extends the call deadline).
fn wait_of(cmd: &Command) -> Option<Duration> {
    match cmd {
        Command::Networks { action } => match action {
            NetworkAction::Update(u) => u.wait.wait,
            NetworkAction::Delete(d) => d.wait.wait,
            _ => None,
        },
        Command::Ports { action } => match action {
            PortAction::Create(c) => c.wait.wait,
            PortAction::Update(u) => u.wait.wait,
            PortAction::Delete(d) => d.wait.wait,
            _ => None,
        },
        Command::Groups { action } => match action {
            GroupAction::Update(u) => u.wait.wait,
            GroupAction::AddRule(a) => a.wait.wait,
            GroupAction::RemoveRule(r) => r.wait.wait,
            GroupAction::Delete(d) => d.wait.wait,
            _ => None,
        },
        Command::Lbs { action } => match action {
            LbAction::Create(c) => c.wait.wait,
            LbAction::Update(u) => u.wait.wait,
            LbAction::Delete(d) => d.wait.wait,
            _ => None,
        },
        Command::Nodes {
            action: NodeAction::Delete(d),
        } => d.wait.wait,
        _ => None,
    }
}

/// Runs a delete of `kind` through `call`, printing the deleted view (and the receipt of a wait).
pub async fn delete<F, Fut>(
    ctx: &mut Ctx,
    kind: &'static str,
    d: crate::cli::DeleteArgs,
    call: F,
) -> Result<String>
where
    F: FnOnce(ControllerClient<Channel>, pb::DeleteRequest) -> Fut,
    Fut: Future<Output = std::result::Result<tonic::Response<pb::DeleteResponse>, tonic::Status>>,
{
    use crate::error::Context;
    let req = pb::DeleteRequest {
        id: d.id.clone(),
        revision: d.revision,
        wait: wait(d.wait.wait),
    };
    let r = call(ctx.client.clone(), req)
        .await
        .during(|| format!("delete {kind} {}", d.id))?;
    let view = crate::view::DeletedView {
        kind,
        id: d.id,
        revision: r.revision,
    };
    ctx.show_with_receipt(&view, kind, "", r.receipt.as_ref())
}

/// Checks the compact specs a command carries before anything is sent (a bad one is a usage error,
/// reported even when the controller is unreachable).
fn check_specs(cmd: &Command) -> Result<()> {
    use crate::spec::*;
    let all = |specs: &[String], parse: fn(&str) -> std::result::Result<(), String>| {
        specs
            .iter()
            .try_for_each(|s| parse(s).map_err(Error::Usage))
    };
    match cmd {
        Command::Networks { action } => match action {
            NetworkAction::Create(c) => network::create_request(c).map(drop),
            NetworkAction::Update(u) => {
                all(&u.add_static_leases, |s| parse_static_lease(s).map(drop))
            }
            _ => Ok(()),
        },
        Command::Groups { action } => match action {
            GroupAction::Create(c) => group::rules(&c.rules).map(drop),
            GroupAction::AddRule(a) => group::rules(&a.rules).map(drop),
            _ => Ok(()),
        },
        Command::Lbs { action } => match action {
            LbAction::Create(c) => lb::create_request(c).map(drop),
            LbAction::Update(u) => {
                all(&u.add_services, |s| parse_service(s).map(drop))?;
                all(&u.backends, |s| parse_backend(s).map(drop))?;
                all(&u.health_checks, |s| parse_health_check(s).map(drop))
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Runs `cli`, writing its output to `out`. A failure is returned after whatever output the
/// command produced (`status` prints the receipt, then fails when nodes lag).
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    // A closed pipe (`sdnctl ... | head`) is not an error.
    let write = |out: &mut dyn Write, s: &str| match out.write_all(s.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write(e)),
        _ => Ok(()),
    };
    match &cli.command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "sdnctl", &mut buf);
            return write(out, &String::from_utf8_lossy(&buf));
        }
        Command::Flows(_) => return Err(Error::NotYet { command: "flows" }),
        Command::Trace(_) => return Err(Error::NotYet { command: "trace" }),
        Command::Counters(_) => {
            return Err(Error::NotYet {
                command: "counters",
            });
        }
        Command::Groups {
            action: GroupAction::UnusedRules(_),
        } => {
            return Err(Error::NotYet {
                command: "groups unused-rules",
            });
        }
        _ => {}
    }
    check_specs(&cli.command)?;
    let timeout = match wait_of(&cli.command) {
        Some(w) => cli.timeout.max(w + Duration::from_secs(5)),
        None => cli.timeout,
    };
    let target = Target {
        controller: cli.controller.clone(),
        insecure: cli.insecure,
        ca: cli.ca.clone(),
        cert: cli.cert.clone(),
        key: cli.key.clone(),
        server_name: cli.tls_server_name.clone(),
        timeout,
    };
    let mut ctx = Ctx {
        client: target.connect().await?,
        format: cli.output,
    };
    let result = match cli.command {
        Command::Networks { action } => network::run(&mut ctx, action).await,
        Command::Ports { action } => port::run(&mut ctx, action).await,
        Command::Groups { action } => group::run(&mut ctx, action).await,
        Command::Lbs { action } => lb::run(&mut ctx, action).await,
        Command::Nodes { action } => node::run(&mut ctx, action).await,
        Command::Status(args) => {
            let (text, outcome) = status::run(&mut ctx, args).await?;
            write(out, &text)?;
            return outcome;
        }
        Command::Completions { .. }
        | Command::Flows(_)
        | Command::Trace(_)
        | Command::Counters(_) => unreachable!("handled before connecting"),
    };
    write(out, &result?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn list_all_follows_pages_and_honours_limit() {
        let pages = |req: pb::ListRequest| async move {
            let start: usize = req.page_token.parse().unwrap_or(0);
            let end = (start + req.page_size as usize).min(1200);
            let next = if end < 1200 {
                end.to_string()
            } else {
                String::new()
            };
            Ok(((start..end).collect::<Vec<_>>(), next, 9))
        };
        let (all, rev) = list_all(None, pages).await.unwrap();
        assert_eq!((all.len(), rev), (1200, 9));
        assert!(all.iter().enumerate().all(|(i, v)| i == *v));
        let (some, _) = list_all(Some(501), pages).await.unwrap();
        assert_eq!(some.len(), 501);
        let (few, _) = list_all(Some(3), pages).await.unwrap();
        assert_eq!(few, [0, 1, 2]);
    }
}
