//! `sdnctl ports`.

use sdn_proto::v1 as pb;

use super::{Ctx, list_all, wait};
use crate::cli::{PortAction, PortCreate, PortUpdate};
use crate::error::{Context, Error, Result};
use crate::view::{ListView, PortView};

pub(super) async fn get(ctx: &mut Ctx, id: &str) -> Result<pb::Port> {
    let r = ctx
        .client
        .get_port(pb::GetRequest { id: id.into() })
        .await
        .during(|| format!("get port {id}"))?;
    r.port
        .ok_or_else(|| Error::Usage(format!("controller returned no port for {id}")))
}

/// The port a `ports create` asks for.
pub fn create_request(c: &PortCreate) -> pb::CreatePortRequest {
    pb::CreatePortRequest {
        port: Some(pb::Port {
            meta: Some(pb::ObjectMeta {
                name: c.name.clone(),
                ..Default::default()
            }),
            instance_id: c.instance_id.clone(),
            node_id: c.node.clone(),
            network_id: c.network.clone(),
            mac: c.mac.clone().unwrap_or_default(),
            ipv4: c.ipv4.clone().unwrap_or_default(),
            ipv6: c.ipv6.clone().unwrap_or_default(),
            security_group_ids: c.groups.clone(),
            ..Default::default()
        }),
        wait: wait(c.wait.wait),
    }
}

/// The update `u` asks for, over the port as read.
pub fn update_request(current: &pb::Port, u: &PortUpdate) -> Result<pb::UpdatePortRequest> {
    let mut groups = match &u.set_groups {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect(),
        None => current.security_group_ids.clone(),
    };
    for g in &u.remove_groups {
        if !groups.contains(g) {
            return Err(Error::Usage(format!(
                "--remove-group {g}: the port does not use that group"
            )));
        }
        groups.retain(|x| x != g);
    }
    for g in &u.add_groups {
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    let revision = u
        .revision
        .revision
        .unwrap_or_else(|| current.meta.as_ref().map_or(0, |m| m.revision));
    Ok(pb::UpdatePortRequest {
        id: u.id.clone(),
        revision,
        name: u.name.clone().unwrap_or_default(),
        security_group_ids: groups,
        wait: wait(u.wait.wait),
    })
}

pub(super) async fn run(ctx: &mut Ctx, action: PortAction) -> Result<String> {
    match action {
        PortAction::List(l) => {
            let client = ctx.client.clone();
            let (node, network) = (
                l.node.clone().unwrap_or_default(),
                l.network.clone().unwrap_or_default(),
            );
            let (items, revision) = list_all(l.list.limit, |mut req| {
                let mut c = client.clone();
                req.node_id = node.clone();
                req.network_id = network.clone();
                async move {
                    let r = c.list_ports(req).await.during(|| "list ports".into())?;
                    Ok((r.ports, r.next_page_token, r.revision))
                }
            })
            .await?;
            ctx.show(&ListView {
                kind: "ports",
                revision,
                items: items.iter().map(PortView::from).collect(),
            })
        }
        PortAction::Get(id) => {
            let p = get(ctx, &id.id).await?;
            ctx.show(&PortView::from(&p))
        }
        PortAction::Create(c) => {
            let r = ctx
                .client
                .create_port(create_request(&c))
                .await
                .during(|| format!("create port {}", c.name))?;
            let view = PortView::from(&r.port.unwrap_or_default());
            ctx.show_with_receipt(&view, "port", &view.meta.name, r.receipt.as_ref())
        }
        PortAction::Update(u) => {
            let current = get(ctx, &u.id).await?;
            let req = update_request(&current, &u)?;
            let r = ctx
                .client
                .update_port(req)
                .await
                .during(|| format!("update port {}", u.id))?;
            let view = PortView::from(&r.port.unwrap_or_default());
            ctx.show_with_receipt(&view, "port", &view.meta.name, r.receipt.as_ref())
        }
        PortAction::Delete(d) => {
            super::delete(ctx, "port", d, |mut c, req| async move {
                c.delete_port(req).await
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{RevisionArg, WaitArg};

    fn port() -> pb::Port {
        pb::Port {
            meta: Some(pb::ObjectMeta {
                id: "p".into(),
                revision: 9,
                ..Default::default()
            }),
            security_group_ids: vec!["a".into(), "b".into()],
            ..Default::default()
        }
    }

    fn update() -> PortUpdate {
        PortUpdate {
            id: "p".into(),
            revision: RevisionArg { revision: None },
            name: None,
            set_groups: None,
            add_groups: vec![],
            remove_groups: vec![],
            wait: WaitArg { wait: None },
        }
    }

    #[test]
    fn groups_are_kept_unless_changed() {
        let r = update_request(&port(), &update()).unwrap();
        assert_eq!(r.security_group_ids, ["a", "b"]);
        assert_eq!(r.revision, 9, "the revision read");
        assert_eq!(r.name, "", "empty keeps the name");
    }

    #[test]
    fn add_remove_set() {
        let u = PortUpdate {
            add_groups: vec!["c".into(), "a".into()],
            remove_groups: vec!["b".into()],
            revision: RevisionArg { revision: Some(4) },
            ..update()
        };
        let r = update_request(&port(), &u).unwrap();
        assert_eq!(r.security_group_ids, ["a", "c"]);
        assert_eq!(r.revision, 4, "the caller's revision wins");
        let u = PortUpdate {
            set_groups: Some(String::new()),
            ..update()
        };
        assert!(
            update_request(&port(), &u)
                .unwrap()
                .security_group_ids
                .is_empty()
        );
        let u = PortUpdate {
            remove_groups: vec!["z".into()],
            ..update()
        };
        assert!(update_request(&port(), &u).is_err());
    }
}
