//! `sdnctl status KIND ID`: the convergence receipt, optionally polled until converged.

use std::time::{Duration, Instant};

use sdn_proto::v1 as pb;

use super::Ctx;
use crate::cli::{Kind, StatusArgs};
use crate::error::{Context, Error, Result};
use crate::view::ReceiptView;

/// How often `--wait` asks again.
const POLL: Duration = Duration::from_millis(200);

/// The object's name, read through its kind (so an id of another kind is NOT_FOUND here).
async fn name_of(ctx: &mut Ctx, kind: Kind, id: &str) -> Result<String> {
    let meta = match kind {
        Kind::Network => super::network::get(ctx, id).await?.meta,
        Kind::Port => super::port::get(ctx, id).await?.meta,
        Kind::Group => super::group::get(ctx, id).await?.meta,
        Kind::Lb => super::lb::get(ctx, id).await?.meta,
        Kind::Node => super::node::get(ctx, id).await?.meta,
    };
    Ok(meta.map(|m| m.name).unwrap_or_default())
}

/// The failure a receipt with laggards is, if any.
pub fn outcome(view: &ReceiptView) -> Result<()> {
    if view.converged {
        return Ok(());
    }
    let names: Vec<String> = view
        .lagging
        .iter()
        .map(|p| format!("{} ({})", p.node_name, p.node_id))
        .collect();
    Err(Error::NotConverged {
        lagging: view.lagging.len(),
        total: view.nodes,
        names: names.join(", "),
    })
}

/// The rendered receipt, and whether it is a failure (nodes lag).
pub(super) async fn run(ctx: &mut Ctx, args: StatusArgs) -> Result<(String, Result<()>)> {
    let name = name_of(ctx, args.kind, &args.id).await?;
    let started = Instant::now();
    loop {
        let receipt = ctx
            .client
            .get_convergence(pb::GetConvergenceRequest {
                id: args.id.clone(),
            })
            .await
            .during(|| format!("status {} {}", args.kind.word(), args.id))?;
        let view = ReceiptView::of(args.kind.word(), &name, &receipt);
        let waiting = args.wait.is_some_and(|w| started.elapsed() < w);
        if view.converged || !waiting {
            let text = ctx.show(&view)?;
            return Ok((text, outcome(&view)));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(name: &str, latency: Option<i32>) -> pb::NodeProgress {
        pb::NodeProgress {
            node_id: format!("id-{name}"),
            node_name: name.into(),
            applied_revision: 5,
            apply_latency: latency.map(|ms| prost_types::Duration {
                seconds: 0,
                nanos: ms * 1_000_000,
            }),
        }
    }

    #[test]
    fn laggards_fail_with_their_names() {
        let r = pb::ConvergenceReceipt {
            object_id: "p".into(),
            revision: 7,
            applied: vec![progress("hv-1", Some(3))],
            lagging: vec![progress("hv-2", None), progress("hv-3", None)],
            converged: false,
        };
        let view = ReceiptView::of("port", "vm1", &r);
        let e = outcome(&view).unwrap_err();
        assert_eq!(e.exit(), crate::error::Exit::NotConverged);
        assert_eq!(
            e.to_string(),
            "not converged: 2 of 3 nodes lag: hv-2 (id-hv-2), hv-3 (id-hv-3)"
        );
    }

    #[test]
    fn nothing_to_apply_is_converged() {
        let r = pb::ConvergenceReceipt {
            object_id: "n".into(),
            revision: 7,
            converged: true,
            ..Default::default()
        };
        let view = ReceiptView::of("network", "web", &r);
        assert!(outcome(&view).is_ok());
        assert_eq!(
            crate::output::Show::table(&view),
            "network web (n) at revision 7: converged (no node needs it)\n"
        );
    }
}
