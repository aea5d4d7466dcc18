//! `sdnctl groups`: security groups and their rules.

use sdn_proto::v1 as pb;

use super::{Ctx, list_all, wait};
use crate::cli::{ExistingFlows, GroupAction};
use crate::error::{Context, Error, Result};
use crate::spec::parse_rule;
use crate::view::{GroupView, ListView};

pub(super) async fn get(ctx: &mut Ctx, id: &str) -> Result<pb::SecurityGroup> {
    let r = ctx
        .client
        .get_security_group(pb::GetRequest { id: id.into() })
        .await
        .during(|| format!("get group {id}"))?;
    r.group
        .ok_or_else(|| Error::Usage(format!("controller returned no group for {id}")))
}

/// Parses rule specs (a bad one is a usage error naming it).
pub fn rules(specs: &[String]) -> Result<Vec<pb::SecurityRule>> {
    specs
        .iter()
        .map(|s| parse_rule(s).map_err(Error::Usage))
        .collect()
}

fn existing_flows(e: ExistingFlows) -> i32 {
    match e {
        ExistingFlows::Keep => pb::ExistingFlows::Keep as i32,
        ExistingFlows::Revoke => pb::ExistingFlows::Revoke as i32,
    }
}

async fn revision_of(ctx: &mut Ctx, id: &str, given: Option<i64>) -> Result<i64> {
    match given {
        Some(r) => Ok(r),
        None => Ok(get(ctx, id).await?.meta.map_or(0, |m| m.revision)),
    }
}

fn shown(ctx: &Ctx, r: pb::SecurityGroupResponse) -> Result<String> {
    let view = GroupView::from(&r.group.unwrap_or_default());
    ctx.show_with_receipt(&view, "group", &view.meta.name, r.receipt.as_ref())
}

pub(super) async fn run(ctx: &mut Ctx, action: GroupAction) -> Result<String> {
    match action {
        GroupAction::List(l) => {
            let client = ctx.client.clone();
            let (items, revision) = list_all(l.limit, |req| {
                let mut c = client.clone();
                async move {
                    let r = c
                        .list_security_groups(req)
                        .await
                        .during(|| "list groups".into())?;
                    Ok((r.groups, r.next_page_token, r.revision))
                }
            })
            .await?;
            ctx.show(&ListView {
                kind: "groups",
                revision,
                items: items.iter().map(GroupView::from).collect(),
            })
        }
        GroupAction::Get(id) => {
            let g = get(ctx, &id.id).await?;
            ctx.show(&GroupView::from(&g))
        }
        GroupAction::Create(c) => {
            let req = pb::CreateSecurityGroupRequest {
                group: Some(pb::SecurityGroup {
                    meta: Some(pb::ObjectMeta {
                        name: c.name.clone(),
                        ..Default::default()
                    }),
                    description: c.description.clone(),
                    rules: rules(&c.rules)?,
                    ..Default::default()
                }),
            };
            let r = ctx
                .client
                .create_security_group(req)
                .await
                .during(|| format!("create group {}", c.name))?;
            shown(ctx, r)
        }
        GroupAction::Update(u) => {
            let mut g = get(ctx, &u.id).await?;
            let meta = g.meta.get_or_insert_with(Default::default);
            if let Some(r) = u.revision.revision {
                meta.revision = r;
            }
            if let Some(n) = &u.name {
                meta.name = n.clone();
            }
            if let Some(d) = &u.description {
                g.description = d.clone();
            }
            let r = ctx
                .client
                .update_security_group(pb::UpdateSecurityGroupRequest {
                    group: Some(g),
                    existing_flows: pb::ExistingFlows::Keep as i32,
                    wait: wait(u.wait.wait),
                })
                .await
                .during(|| format!("update group {}", u.id))?;
            shown(ctx, r)
        }
        GroupAction::AddRule(a) => {
            let new = rules(&a.rules)?;
            let revision = revision_of(ctx, &a.id, a.revision.revision).await?;
            let r = ctx
                .client
                .add_security_rules(pb::AddSecurityRulesRequest {
                    group_id: a.id.clone(),
                    revision,
                    rules: new,
                    wait: wait(a.wait.wait),
                })
                .await
                .during(|| format!("add rules to group {}", a.id))?;
            shown(ctx, r)
        }
        GroupAction::RemoveRule(rm) => {
            let revision = revision_of(ctx, &rm.id, rm.revision.revision).await?;
            let r = ctx
                .client
                .remove_security_rules(pb::RemoveSecurityRulesRequest {
                    group_id: rm.id.clone(),
                    revision,
                    rule_ids: rm.rule_ids.clone(),
                    existing_flows: existing_flows(rm.existing_flows),
                    wait: wait(rm.wait.wait),
                })
                .await
                .during(|| format!("remove rules from group {}", rm.id))?;
            shown(ctx, r)
        }
        GroupAction::Delete(d) => {
            super::delete(ctx, "group", d, |mut c, req| async move {
                c.delete_security_group(req).await
            })
            .await
        }
        GroupAction::UnusedRules(_) => Err(Error::NotYet {
            command: "groups unused-rules",
        }),
    }
}
