//! `sdnctl networks`.

use sdn_proto::v1 as pb;

use super::{Ctx, list_all, wait};
use crate::cli::{NetworkAction, NetworkCreate, NetworkUpdate};
use crate::error::{Context, Error, Result};
use crate::spec::parse_static_lease;
use crate::view::{ListView, NetworkView};

pub(super) async fn get(ctx: &mut Ctx, id: &str) -> Result<pb::PrivateNetwork> {
    let r = ctx
        .client
        .get_network(pb::GetRequest { id: id.into() })
        .await
        .during(|| format!("get network {id}"))?;
    r.network
        .ok_or_else(|| Error::Usage(format!("controller returned no network for {id}")))
}

fn leases(specs: &[String]) -> Result<Vec<pb::StaticLease>> {
    specs
        .iter()
        .map(|s| parse_static_lease(s).map_err(Error::Usage))
        .collect()
}

/// The network a `networks create` asks for.
pub fn create_request(c: &NetworkCreate) -> Result<pb::CreateNetworkRequest> {
    Ok(pb::CreateNetworkRequest {
        network: Some(pb::PrivateNetwork {
            meta: Some(pb::ObjectMeta {
                name: c.name.clone(),
                ..Default::default()
            }),
            description: c.description.clone(),
            ipv4_cidr: c.ipv4_cidr.clone(),
            ipv6_prefix: c.ipv6_prefix.clone().unwrap_or_default(),
            vni: c.vni.unwrap_or(0),
            mode: if c.unmanaged {
                pb::NetworkMode::Unmanaged
            } else {
                pb::NetworkMode::Managed
            } as i32,
            start_ipv4: c.start_ipv4.clone().unwrap_or_default(),
            end_ipv4: c.end_ipv4.clone().unwrap_or_default(),
            start_ipv6: c.start_ipv6.clone().unwrap_or_default(),
            end_ipv6: c.end_ipv6.clone().unwrap_or_default(),
            static_leases: leases(&c.static_leases)?,
            ..Default::default()
        }),
    })
}

/// `current` changed as `u` asks, carrying the revision to check.
pub fn update_request(
    mut n: pb::PrivateNetwork,
    u: &NetworkUpdate,
) -> Result<pb::UpdateNetworkRequest> {
    let meta = n.meta.get_or_insert_with(Default::default);
    if let Some(r) = u.revision.revision {
        meta.revision = r;
    }
    if let Some(name) = &u.name {
        meta.name = name.clone();
    }
    let set = |field: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            *field = v.clone();
        }
    };
    if let Some(d) = &u.description {
        n.description = d.clone();
    }
    set(&mut n.start_ipv4, &u.start_ipv4);
    set(&mut n.end_ipv4, &u.end_ipv4);
    set(&mut n.start_ipv6, &u.start_ipv6);
    set(&mut n.end_ipv6, &u.end_ipv6);
    for mac in &u.remove_static_leases {
        let mac = mac.to_ascii_lowercase();
        let before = n.static_leases.len();
        n.static_leases.retain(|l| l.mac != mac);
        if n.static_leases.len() == before {
            return Err(Error::Usage(format!(
                "--remove-static-lease {mac}: the network has no lease for that MAC"
            )));
        }
    }
    for l in leases(&u.add_static_leases)? {
        n.static_leases.retain(|o| o.mac != l.mac);
        n.static_leases.push(l);
    }
    Ok(pb::UpdateNetworkRequest {
        network: Some(n),
        wait: wait(u.wait.wait),
    })
}

pub(super) async fn run(ctx: &mut Ctx, action: NetworkAction) -> Result<String> {
    match action {
        NetworkAction::List(l) => {
            let client = ctx.client.clone();
            let (items, revision) = list_all(l.limit, |req| {
                let mut c = client.clone();
                async move {
                    let r = c
                        .list_networks(req)
                        .await
                        .during(|| "list networks".into())?;
                    Ok((r.networks, r.next_page_token, r.revision))
                }
            })
            .await?;
            ctx.show(&ListView {
                kind: "networks",
                revision,
                items: items.iter().map(NetworkView::from).collect(),
            })
        }
        NetworkAction::Get(id) => {
            let n = get(ctx, &id.id).await?;
            ctx.show(&NetworkView::from(&n))
        }
        NetworkAction::Create(c) => {
            let req = create_request(&c)?;
            let r = ctx
                .client
                .create_network(req)
                .await
                .during(|| format!("create network {}", c.name))?;
            ctx.show(&NetworkView::from(&r.network.unwrap_or_default()))
        }
        NetworkAction::Update(u) => {
            let current = get(ctx, &u.id).await?;
            let req = update_request(current, &u)?;
            let r = ctx
                .client
                .update_network(req)
                .await
                .during(|| format!("update network {}", u.id))?;
            let n = r.network.unwrap_or_default();
            let view = NetworkView::from(&n);
            ctx.show_with_receipt(&view, "network", &view.meta.name, r.receipt.as_ref())
        }
        NetworkAction::Delete(d) => {
            super::delete(ctx, "network", d, |mut c, req| async move {
                c.delete_network(req).await
            })
            .await
        }
    }
}
