//! How views are printed: readable tables (the default), JSON or YAML of the [`crate::view`] schema.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::spec::format_ports;
use crate::table::{Table, fields};
use crate::view::*;

/// Output format (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned tables for people.
    Table,
    /// JSON of the documented schema (docs/sdnctl.md), one document, pretty-printed.
    Json,
    /// The same schema as YAML.
    Yaml,
}

/// Something printable: its schema (serde) and its table form.
pub trait Show: Serialize {
    /// The table (or detail) form.
    fn table(&self) -> String;
}

/// Renders `value` in `format`, ending with a newline.
pub fn render<T: Show>(format: Format, value: &T) -> Result<String> {
    match format {
        Format::Table => Ok(value.table()),
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| Error::Encode {
                format: "json",
                reason: e.to_string(),
            }),
        Format::Yaml => serde_saphyr::to_string(value).map_err(|e| Error::Encode {
            format: "yaml",
            reason: e.to_string(),
        }),
    }
}

/// A row type: the columns of its kind's list table.
pub trait Row {
    /// Column headers.
    const HEADERS: &'static [&'static str];
    /// One row.
    fn cells(&self) -> Vec<String>;
}

impl<T: Row + Serialize> Show for ListView<T> {
    fn table(&self) -> String {
        let mut t = Table::new(T::HEADERS);
        for item in &self.items {
            t.row(item.cells());
        }
        if t.is_empty() {
            format!("no {}\n", self.kind)
        } else {
            t.render()
        }
    }
}

fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn rev(meta: &Meta) -> String {
    meta.revision.to_string()
}

fn meta_fields(m: &Meta) -> Vec<(&'static str, String)> {
    vec![
        ("ID", m.id.clone()),
        ("Name", m.name.clone()),
        ("Revision", m.revision.to_string()),
        ("Created", or_dash(&m.created_at)),
        ("Updated", or_dash(&m.updated_at)),
    ]
}

impl Row for NodeView {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "NAME",
        "STATE",
        "UNDERLAY",
        "ROLES",
        "APPLIED",
        "AGENT",
        "LAST SEEN",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.meta.id.clone(),
            self.meta.name.clone(),
            self.state.into(),
            self.underlay_ip.clone(),
            self.roles.join(","),
            self.applied_revision.to_string(),
            or_dash(&self.agent_version),
            or_dash(&self.last_seen),
        ]
    }
}

impl Show for NodeView {
    fn table(&self) -> String {
        let mut f = meta_fields(&self.meta);
        f.extend([
            ("State", self.state.to_string()),
            ("Underlay IP", self.underlay_ip.clone()),
            ("Roles", self.roles.join(", ")),
            ("Agent version", or_dash(&self.agent_version)),
            ("Capabilities", self.capabilities.join(", ")),
            ("Last seen", or_dash(&self.last_seen)),
            ("Applied revision", self.applied_revision.to_string()),
        ]);
        fields(&f)
    }
}

impl Row for NetworkView {
    const HEADERS: &'static [&'static str] =
        &["ID", "NAME", "STATE", "IPV4", "IPV6", "VNI", "MODE", "REV"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.meta.id.clone(),
            self.meta.name.clone(),
            self.state.into(),
            self.ipv4_cidr.clone(),
            or_dash(&self.ipv6_prefix),
            self.vni.to_string(),
            self.mode.into(),
            rev(&self.meta),
        ]
    }
}

fn range(start: &Option<String>, end: &Option<String>) -> String {
    match (start, end) {
        (None, None) => String::new(),
        (s, e) => format!(
            "{} - {}",
            s.as_deref().unwrap_or("?"),
            e.as_deref().unwrap_or("?")
        ),
    }
}

impl Show for NetworkView {
    fn table(&self) -> String {
        let mut f = meta_fields(&self.meta);
        f.extend([
            ("State", self.state.to_string()),
            ("Description", self.description.clone()),
            ("IPv4", self.ipv4_cidr.clone()),
            ("IPv4 range", range(&self.start_ipv4, &self.end_ipv4)),
            ("IPv6", or_dash(&self.ipv6_prefix)),
            ("IPv6 range", range(&self.start_ipv6, &self.end_ipv6)),
            ("VNI", self.vni.to_string()),
            ("Mode", self.mode.to_string()),
            ("Static leases", self.static_leases.len().to_string()),
        ]);
        let mut out = fields(&f);
        if !self.static_leases.is_empty() {
            let mut t = Table::new(&["MAC", "IPV4", "IPV6"]);
            for l in &self.static_leases {
                t.row(vec![l.mac.clone(), l.ipv4.clone(), or_dash(&l.ipv6)]);
            }
            out.push('\n');
            out.push_str(&t.render());
        }
        out
    }
}

impl Row for PortView {
    const HEADERS: &'static [&'static str] = &[
        "ID", "NAME", "STATE", "NODE", "NETWORK", "MAC", "IPV4", "IPV6", "GROUPS", "REV",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.meta.id.clone(),
            self.meta.name.clone(),
            self.state.into(),
            self.node_id.clone(),
            self.network_id.clone(),
            self.mac.clone(),
            or_dash(&self.ipv4),
            or_dash(&self.ipv6),
            self.security_group_ids.len().to_string(),
            rev(&self.meta),
        ]
    }
}

impl Show for PortView {
    fn table(&self) -> String {
        let mut f = meta_fields(&self.meta);
        f.extend([
            ("State", self.state.to_string()),
            ("Instance", self.instance_id.clone()),
            ("Node", self.node_id.clone()),
            ("Network", self.network_id.clone()),
            ("MAC", self.mac.clone()),
            ("IPv4", or_dash(&self.ipv4)),
            ("IPv6", or_dash(&self.ipv6)),
            ("Security groups", self.security_group_ids.join(", ")),
        ]);
        fields(&f)
    }
}

impl Row for GroupView {
    const HEADERS: &'static [&'static str] =
        &["ID", "NAME", "STATE", "RULES", "DESCRIPTION", "REV"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.meta.id.clone(),
            self.meta.name.clone(),
            self.state.into(),
            self.rules.len().to_string(),
            self.description.clone(),
            rev(&self.meta),
        ]
    }
}

/// The rules of a group as a table.
pub fn rules_table(rules: &[RuleView]) -> String {
    let mut t = Table::new(&[
        "RULE ID",
        "DIRECTION",
        "PROTOCOL",
        "PORTS",
        "ICMP",
        "REMOTE",
        "DESCRIPTION",
    ]);
    for r in rules {
        let icmp = match (r.icmp_type, r.icmp_code) {
            (Some(t), Some(c)) => format!("{t}/{c}"),
            (Some(t), None) => format!("{t}/any"),
            _ => String::new(),
        };
        let remote = match (&r.remote_cidr, &r.remote_group_id) {
            (Some(c), _) => c.clone(),
            (_, Some(g)) => format!("group:{g}"),
            _ => "any".into(),
        };
        t.row(vec![
            r.id.clone(),
            r.direction.into(),
            r.protocol.clone(),
            match (r.port_from, r.port_to) {
                (Some(f), Some(to)) => format_ports(f, to),
                _ => String::new(),
            },
            icmp,
            remote,
            r.description.clone(),
        ]);
    }
    t.render()
}

impl Show for GroupView {
    fn table(&self) -> String {
        let mut f = meta_fields(&self.meta);
        f.extend([
            ("State", self.state.to_string()),
            ("Description", self.description.clone()),
            ("Rules", self.rules.len().to_string()),
        ]);
        if !self.revoked_rule_ids.is_empty() {
            f.push(("Revoked rules", self.revoked_rule_ids.join(", ")));
        }
        let mut out = fields(&f);
        if !self.rules.is_empty() {
            out.push('\n');
            out.push_str(&rules_table(&self.rules));
        }
        out
    }
}

impl Row for LoadBalancerView {
    const HEADERS: &'static [&'static str] =
        &["ID", "NAME", "STATE", "VIP", "SERVICES", "BACKENDS", "REV"];
    fn cells(&self) -> Vec<String> {
        let backends: Vec<&BackendView> = self.services.iter().flat_map(|s| &s.backends).collect();
        let healthy = backends.iter().filter(|b| b.health == "healthy").count();
        vec![
            self.meta.id.clone(),
            self.meta.name.clone(),
            self.state.into(),
            self.vip.clone(),
            self.services
                .iter()
                .map(|s| format!("{}/{}:{}", s.name, s.protocol, s.port))
                .collect::<Vec<_>>()
                .join(","),
            format!("{healthy}/{} healthy", backends.len()),
            rev(&self.meta),
        ]
    }
}

impl Show for LoadBalancerView {
    fn table(&self) -> String {
        let mut f = meta_fields(&self.meta);
        f.extend([
            ("State", self.state.to_string()),
            ("Error", or_dash(&self.error_reason)),
            ("Description", self.description.clone()),
            ("VIP", self.vip.clone()),
            ("Services", self.services.len().to_string()),
        ]);
        let mut out = fields(&f);
        for s in &self.services {
            let hc = &s.health_check;
            let check = match (&hc.http_path, hc.http_expected_status) {
                (Some(p), Some(st)) => format!("http GET {p} expects {st} on port {}", hc.port),
                _ => format!("tcp connect on port {}", hc.port),
            };
            out.push('\n');
            out.push_str(&fields(&[
                ("Service", format!("{} ({})", s.name, s.id)),
                (
                    "Listens",
                    format!(
                        "{} {}:{} -> backends:{} ({})",
                        s.protocol, self.vip, s.port, s.target_port, s.strategy
                    ),
                ),
                (
                    "Health check",
                    format!(
                        "{check}, every {}ms, timeout {}ms, down after {}, up after {}",
                        hc.interval_ms, hc.timeout_ms, hc.retries_down, hc.retries_up
                    ),
                ),
            ]));
            if s.backends.is_empty() {
                out.push_str("(no backends)\n");
            } else {
                let mut t = Table::new(&["BACKEND PORT", "WEIGHT", "HEALTH", "SINCE", "REASON"]);
                for b in &s.backends {
                    t.row(vec![
                        b.port_id.clone(),
                        b.weight.to_string(),
                        b.health.into(),
                        or_dash(&b.health_changed_at),
                        or_dash(&b.health_reason),
                    ]);
                }
                out.push_str(&t.render());
            }
        }
        out
    }
}

impl Show for DeletedView {
    fn table(&self) -> String {
        format!(
            "deleted {} {} at revision {}\n",
            self.kind, self.id, self.revision
        )
    }
}

fn latency(p: &NodeProgressView) -> String {
    p.apply_latency_ms
        .map(|ms| crate::spec::format_duration(std::time::Duration::from_secs_f64(ms / 1e3)))
        .unwrap_or_default()
}

impl Show for ReceiptView {
    fn table(&self) -> String {
        let head = if self.nodes == 0 {
            "converged (no node needs it)".to_string()
        } else if self.converged {
            format!("converged on all {} nodes", self.nodes)
        } else {
            format!(
                "NOT converged: {} of {} nodes lag",
                self.lagging.len(),
                self.nodes
            )
        };
        let name = if self.name.is_empty() {
            String::new()
        } else {
            format!(" {}", self.name)
        };
        let mut out = format!(
            "{}{name} ({}) at revision {}: {head}\n",
            self.kind, self.id, self.revision
        );
        if self.nodes > 0 {
            let mut t = Table::new(&["NODE", "NODE ID", "STATUS", "APPLIED", "LATENCY"]);
            for (status, list) in [("lagging", &self.lagging), ("applied", &self.applied)] {
                for p in list {
                    t.row(vec![
                        p.node_name.clone(),
                        p.node_id.clone(),
                        status.into(),
                        p.applied_revision.to_string(),
                        latency(p),
                    ]);
                }
            }
            out.push('\n');
            out.push_str(&t.render());
        }
        if !self.applied.is_empty() {
            let mut l: Vec<f64> = self
                .applied
                .iter()
                .filter_map(|p| p.apply_latency_ms)
                .collect();
            if !l.is_empty() {
                l.sort_by(f64::total_cmp);
                let p50 = l[(l.len() - 1) / 2];
                let max = l[l.len() - 1];
                let f = |ms: f64| {
                    crate::spec::format_duration(std::time::Duration::from_secs_f64(ms / 1e3))
                };
                out.push_str(&format!(
                    "\napply latency: p50 {}, max {}\n",
                    f(p50),
                    f(max)
                ));
            }
        }
        out
    }
}
