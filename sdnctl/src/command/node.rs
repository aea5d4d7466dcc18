//! `sdnctl nodes`.

use sdn_proto::v1 as pb;

use super::{Ctx, list_all};
use crate::cli::{NodeAction, NodeUpdate, Role};
use crate::error::{Context, Error, Result};
use crate::view::{ListView, NodeView};

pub(super) async fn get(ctx: &mut Ctx, id: &str) -> Result<pb::Node> {
    let r = ctx
        .client
        .get_node(pb::GetRequest { id: id.into() })
        .await
        .during(|| format!("get node {id}"))?;
    r.node
        .ok_or_else(|| Error::Usage(format!("controller returned no node for {id}")))
}

fn role(r: Role) -> i32 {
    match r {
        Role::Compute => pb::NodeRole::Compute as i32,
        Role::Lb => pb::NodeRole::Lb as i32,
    }
}

/// The update `u` asks for (`revision` is the one read when `--revision` is absent).
pub fn update_request(u: &NodeUpdate, revision: i64) -> pb::UpdateNodeRequest {
    pb::UpdateNodeRequest {
        id: u.id.clone(),
        revision: u.revision.revision.unwrap_or(revision),
        name: u.name.clone().unwrap_or_default(),
        roles: u.roles.iter().map(|r| role(*r)).collect(),
        cordoned: if u.cordon {
            Some(true)
        } else if u.uncordon {
            Some(false)
        } else {
            None
        },
    }
}

pub(super) async fn run(ctx: &mut Ctx, action: NodeAction) -> Result<String> {
    match action {
        NodeAction::List(l) => {
            let client = ctx.client.clone();
            let (items, revision) = list_all(l.limit, |req| {
                let mut c = client.clone();
                async move {
                    let r = c.list_nodes(req).await.during(|| "list nodes".into())?;
                    Ok((r.nodes, r.next_page_token, r.revision))
                }
            })
            .await?;
            ctx.show(&ListView {
                kind: "nodes",
                revision,
                items: items.iter().map(NodeView::from).collect(),
            })
        }
        NodeAction::Get(id) => {
            let n = get(ctx, &id.id).await?;
            ctx.show(&NodeView::from(&n))
        }
        NodeAction::Create(c) => {
            let req = pb::CreateNodeRequest {
                node: Some(pb::Node {
                    meta: Some(pb::ObjectMeta {
                        id: c.id.clone().unwrap_or_default(),
                        name: c.name.clone(),
                        ..Default::default()
                    }),
                    underlay_ip: c.underlay_ip.clone(),
                    roles: c.roles.iter().map(|r| role(*r)).collect(),
                    ..Default::default()
                }),
            };
            let r = ctx
                .client
                .create_node(req)
                .await
                .during(|| format!("create node {}", c.name))?;
            ctx.show(&NodeView::from(&r.node.unwrap_or_default()))
        }
        NodeAction::Update(u) => {
            let revision = match u.revision.revision {
                Some(r) => r,
                None => get(ctx, &u.id).await?.meta.map_or(0, |m| m.revision),
            };
            let r = ctx
                .client
                .update_node(update_request(&u, revision))
                .await
                .during(|| format!("update node {}", u.id))?;
            ctx.show(&NodeView::from(&r.node.unwrap_or_default()))
        }
        NodeAction::Delete(d) => {
            super::delete(ctx, "node", d, |mut c, req| async move {
                c.delete_node(req).await
            })
            .await
        }
    }
}
