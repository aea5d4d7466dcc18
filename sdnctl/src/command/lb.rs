//! `sdnctl lbs`: load balancers, their services, backends and health.

use sdn_proto::v1 as pb;

use super::{Ctx, list_all, wait};
use crate::cli::{LbAction, LbCreate, LbUpdate};
use crate::error::{Context, Error, Result};
use crate::spec::{parse_backend, parse_health_check, parse_service};
use crate::view::{ListView, LoadBalancerView};

pub(super) async fn get(ctx: &mut Ctx, id: &str) -> Result<pb::LoadBalancer> {
    let r = ctx
        .client
        .get_load_balancer(pb::GetRequest { id: id.into() })
        .await
        .during(|| format!("get lb {id}"))?;
    r.load_balancer
        .ok_or_else(|| Error::Usage(format!("controller returned no load balancer for {id}")))
}

fn service<'a>(
    services: &'a mut [pb::LbService],
    name: &str,
    flag: &str,
) -> Result<&'a mut pb::LbService> {
    let known: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    services.iter_mut().find(|s| s.name == name).ok_or_else(|| {
        Error::Usage(format!(
            "{flag}: no service `{name}` (services: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// Adds or re-weights backends, then sets health checks, on `services`.
fn apply_backends_and_checks(
    services: &mut [pb::LbService],
    backends: &[String],
    checks: &[String],
) -> Result<()> {
    for spec in backends {
        let (name, b) = parse_backend(spec).map_err(Error::Usage)?;
        let s = service(services, &name, "--backend")?;
        match s.backends.iter_mut().find(|x| x.port_id == b.port_id) {
            Some(existing) => existing.weight = b.weight,
            None => s.backends.push(b),
        }
    }
    for spec in checks {
        let (name, hc) = parse_health_check(spec).map_err(Error::Usage)?;
        service(services, &name, "--health-check")?.health_check = Some(hc);
    }
    Ok(())
}

/// The load balancer a `lbs create` asks for.
pub fn create_request(c: &LbCreate) -> Result<pb::CreateLoadBalancerRequest> {
    let mut services = c
        .services
        .iter()
        .map(|s| parse_service(s).map_err(Error::Usage))
        .collect::<Result<Vec<_>>>()?;
    apply_backends_and_checks(&mut services, &c.backends, &c.health_checks)?;
    Ok(pb::CreateLoadBalancerRequest {
        load_balancer: Some(pb::LoadBalancer {
            meta: Some(pb::ObjectMeta {
                name: c.name.clone(),
                ..Default::default()
            }),
            description: c.description.clone(),
            vip: c.vip.clone(),
            services,
            ..Default::default()
        }),
        wait: wait(c.wait.wait),
    })
}

/// `current` changed as `u` asks.
pub fn update_request(
    mut lb: pb::LoadBalancer,
    u: &LbUpdate,
) -> Result<pb::UpdateLoadBalancerRequest> {
    let meta = lb.meta.get_or_insert_with(Default::default);
    if let Some(r) = u.revision.revision {
        meta.revision = r;
    }
    if let Some(n) = &u.name {
        meta.name = n.clone();
    }
    if let Some(d) = &u.description {
        lb.description = d.clone();
    }
    for name in &u.remove_services {
        service(&mut lb.services, name, "--remove-service")?;
        lb.services.retain(|s| &s.name != name);
    }
    for spec in &u.add_services {
        let s = parse_service(spec).map_err(Error::Usage)?;
        if lb.services.iter().any(|x| x.name == s.name) {
            return Err(Error::Usage(format!(
                "--add-service {spec}: a service `{}` exists; remove it first",
                s.name
            )));
        }
        lb.services.push(s);
    }
    for spec in &u.remove_backends {
        let (name, port) = spec.split_once('=').ok_or_else(|| {
            Error::Usage(format!("--remove-backend {spec}: expected SERVICE=PORT_ID"))
        })?;
        let s = service(&mut lb.services, name, "--remove-backend")?;
        let before = s.backends.len();
        s.backends.retain(|b| b.port_id != port);
        if s.backends.len() == before {
            return Err(Error::Usage(format!(
                "--remove-backend {spec}: service `{name}` has no backend {port}"
            )));
        }
    }
    apply_backends_and_checks(&mut lb.services, &u.backends, &u.health_checks)?;
    Ok(pb::UpdateLoadBalancerRequest {
        load_balancer: Some(lb),
        wait: wait(u.wait.wait),
    })
}

fn shown(ctx: &Ctx, r: pb::LoadBalancerResponse) -> Result<String> {
    let view = LoadBalancerView::from(&r.load_balancer.unwrap_or_default());
    ctx.show_with_receipt(&view, "lb", &view.meta.name, r.receipt.as_ref())
}

pub(super) async fn run(ctx: &mut Ctx, action: LbAction) -> Result<String> {
    match action {
        LbAction::List(l) => {
            let client = ctx.client.clone();
            let (items, revision) = list_all(l.limit, |req| {
                let mut c = client.clone();
                async move {
                    let r = c
                        .list_load_balancers(req)
                        .await
                        .during(|| "list lbs".into())?;
                    Ok((r.load_balancers, r.next_page_token, r.revision))
                }
            })
            .await?;
            ctx.show(&ListView {
                kind: "lbs",
                revision,
                items: items.iter().map(LoadBalancerView::from).collect(),
            })
        }
        LbAction::Get(id) => {
            let lb = get(ctx, &id.id).await?;
            ctx.show(&LoadBalancerView::from(&lb))
        }
        LbAction::Create(c) => {
            let req = create_request(&c)?;
            let r = ctx
                .client
                .create_load_balancer(req)
                .await
                .during(|| format!("create lb {}", c.name))?;
            shown(ctx, r)
        }
        LbAction::Update(u) => {
            let current = get(ctx, &u.id).await?;
            let req = update_request(current, &u)?;
            let r = ctx
                .client
                .update_load_balancer(req)
                .await
                .during(|| format!("update lb {}", u.id))?;
            shown(ctx, r)
        }
        LbAction::Delete(d) => {
            super::delete(ctx, "lb", d, |mut c, req| async move {
                c.delete_load_balancer(req).await
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{RevisionArg, WaitArg};

    fn create() -> LbCreate {
        LbCreate {
            name: "www".into(),
            vip: "203.0.113.10".into(),
            description: String::new(),
            services: vec!["web tcp 80 to 8080".into(), "dns udp 53".into()],
            backends: vec!["web=p1".into(), "web=p2:50".into(), "dns=p1".into()],
            health_checks: vec!["web http path /healthz".into()],
            wait: WaitArg { wait: None },
        }
    }

    fn update() -> LbUpdate {
        LbUpdate {
            id: "lb".into(),
            revision: RevisionArg { revision: None },
            name: None,
            description: None,
            add_services: vec![],
            remove_services: vec![],
            backends: vec![],
            remove_backends: vec![],
            health_checks: vec![],
            wait: WaitArg { wait: None },
        }
    }

    #[test]
    fn create_places_backends_and_checks_on_their_service() {
        let lb = create_request(&create()).unwrap().load_balancer.unwrap();
        let web = &lb.services[0];
        assert_eq!(web.backends.len(), 2);
        assert_eq!(web.backends[1].weight, 50);
        assert_eq!(web.health_check.as_ref().unwrap().http_path, "/healthz");
        assert_eq!(lb.services[1].backends.len(), 1);
        assert!(lb.services[1].health_check.is_none());
        let bad = LbCreate {
            backends: vec!["api=p1".into()],
            ..create()
        };
        let e = create_request(&bad).unwrap_err().to_string();
        assert!(e.contains("no service `api` (services: web, dns)"), "{e}");
    }

    #[test]
    fn update_drains_removes_and_adds() {
        let lb = create_request(&create()).unwrap().load_balancer.unwrap();
        let u = LbUpdate {
            backends: vec!["web=p2:0".into(), "web=p3".into()],
            remove_backends: vec!["web=p1".into()],
            remove_services: vec!["dns".into()],
            add_services: vec!["ssh tcp 22".into()],
            revision: RevisionArg { revision: Some(3) },
            ..update()
        };
        let lb = update_request(lb, &u).unwrap().load_balancer.unwrap();
        assert_eq!(lb.meta.unwrap().revision, 3);
        let names: Vec<&str> = lb.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web", "ssh"]);
        let web: Vec<(&str, u32)> = lb.services[0]
            .backends
            .iter()
            .map(|b| (b.port_id.as_str(), b.weight))
            .collect();
        assert_eq!(web, [("p2", 0), ("p3", 100)]);
        let again = LbUpdate {
            remove_backends: vec!["web=p9".into()],
            ..update()
        };
        let lb = create_request(&create()).unwrap().load_balancer.unwrap();
        assert!(update_request(lb, &again).is_err());
    }
}
