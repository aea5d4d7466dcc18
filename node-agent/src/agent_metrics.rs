//! Prometheus metrics of one node agent, in their own registry (served on `/metrics`).
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `sdn_agent_port_packets_total`, `sdn_agent_port_bytes_total` | counter | `port` (id), `direction` (`ingress`/`egress`, the instance's view), `verdict` (`rule` or a built-in: `default-deny-ingress`, `established`, ...) |
//! | `sdn_agent_rule_packets_total` | counter | `rule` (the API rule id), opening packets of the flows it admitted |
//! | `sdn_agent_drops_total` | counter | `reason` (`default_deny_ingress`, `spoof_ip`, ...) |
//! | `sdn_agent_conntrack_entries` | gauge | | live conntrack entries after the last sweep |
//! | `sdn_agent_applied_revision` | gauge | | last revision applied and acknowledged |
//! | `sdn_agent_sync_connected` | gauge | | 1 while the sync stream is up |
//! | `sdn_agent_sync_state` | gauge | `state` (`connecting`, `connected`, `disconnected`): 1 for the current one |
//! | `sdn_agent_reconnects_total` | counter | | streams lost (then retried with backoff) |
//! | `sdn_agent_repairs_total` | counter | `what` (`port`, `network`) | drift repaired |
//! | `sdn_agent_apply_errors` | gauge | | objects the last apply could not program |
//! | `sdn_agent_apply_seconds` | histogram | | time to apply one message to the kernel |
//! | `sdn_agent_dhcp_replies_total` | counter | `network` | DHCP offers and acks sent |
//!
//! Kernel counters are read at scrape time ([`AgentMetrics::observe`]); they only grow while a
//! port stays attached, and a port re-attached (its counters zeroed) restarts its series.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::attribution::Builtin;
use crate::reconcile::KernelReading;
use crate::rule_ids::RuleIds;

/// Where the sync stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Dialling the controller.
    Connecting,
    /// The stream is up.
    Connected,
    /// The controller is gone; the kernel keeps its state (fail-static) while the agent retries.
    Disconnected,
}

impl SyncState {
    const ALL: [SyncState; 3] = [
        SyncState::Connecting,
        SyncState::Connected,
        SyncState::Disconnected,
    ];

    /// The label.
    pub fn label(self) -> &'static str {
        match self {
            SyncState::Connecting => "connecting",
            SyncState::Connected => "connected",
            SyncState::Disconnected => "disconnected",
        }
    }
}

/// Every metric of the agent.
#[derive(Debug)]
pub struct AgentMetrics {
    registry: Registry,
    port_packets: IntCounterVec,
    port_bytes: IntCounterVec,
    rule_packets: IntCounterVec,
    drops: IntCounterVec,
    dhcp_replies: IntCounterVec,
    /// Live conntrack entries.
    pub conntrack: IntGauge,
    /// Last revision applied and acked.
    pub applied_revision: IntGauge,
    connected: IntGauge,
    state: IntGaugeVec,
    /// Streams lost.
    pub reconnects: IntCounter,
    /// Repairs by kind.
    pub repairs: IntCounterVec,
    /// Objects the last apply failed on.
    pub apply_errors: IntGauge,
    /// Apply latency.
    pub apply_seconds: Histogram,
    /// Last values read from the kernel, to turn absolute counters into increments.
    seen: Mutex<BTreeMap<(String, Vec<String>), u64>>,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        AgentMetrics::new()
    }
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

impl AgentMetrics {
    /// A fresh set in its own registry.
    pub fn new() -> AgentMetrics {
        let registry = Registry::new();
        let port_packets = counter_vec(
            "sdn_agent_port_packets_total",
            "packets per port, direction (instance's view) and who decided",
            &["port", "direction", "verdict"],
        );
        let port_bytes = counter_vec(
            "sdn_agent_port_bytes_total",
            "bytes per port, direction (instance's view) and who decided",
            &["port", "direction", "verdict"],
        );
        let rule_packets = counter_vec(
            "sdn_agent_rule_packets_total",
            "opening packets of the flows each security rule admitted",
            &["rule"],
        );
        let drops = counter_vec(
            "sdn_agent_drops_total",
            "packets dropped by the dataplane, by reason",
            &["reason"],
        );
        let dhcp_replies = counter_vec(
            "sdn_agent_dhcp_replies_total",
            "DHCP offers and acks sent, per network",
            &["network"],
        );
        let conntrack = IntGauge::new(
            "sdn_agent_conntrack_entries",
            "live conntrack entries after the last sweep",
        )
        .expect("valid metric");
        let applied_revision = IntGauge::new(
            "sdn_agent_applied_revision",
            "last store revision applied to the kernel and acknowledged",
        )
        .expect("valid metric");
        let connected = IntGauge::new("sdn_agent_sync_connected", "1 while the sync stream is up")
            .expect("valid metric");
        let state = IntGaugeVec::new(
            Opts::new("sdn_agent_sync_state", "1 for the current sync state"),
            &["state"],
        )
        .expect("valid metric");
        let reconnects = IntCounter::new(
            "sdn_agent_reconnects_total",
            "sync streams lost (retried with backoff)",
        )
        .expect("valid metric");
        let repairs = counter_vec(
            "sdn_agent_repairs_total",
            "kernel state found differing from the intent and repaired",
            &["what"],
        );
        let apply_errors = IntGauge::new(
            "sdn_agent_apply_errors",
            "objects the last apply could not program",
        )
        .expect("valid metric");
        let apply_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "sdn_agent_apply_seconds",
                "time to apply one sync message to the kernel",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .expect("valid metric");
        for c in [
            Box::new(port_packets.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(port_bytes.clone()),
            Box::new(rule_packets.clone()),
            Box::new(drops.clone()),
            Box::new(dhcp_replies.clone()),
            Box::new(conntrack.clone()),
            Box::new(applied_revision.clone()),
            Box::new(connected.clone()),
            Box::new(state.clone()),
            Box::new(reconnects.clone()),
            Box::new(repairs.clone()),
            Box::new(apply_errors.clone()),
            Box::new(apply_seconds.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        for s in SyncState::ALL {
            state.with_label_values(&[s.label()]).set(0);
        }
        for what in ["port", "network"] {
            repairs.with_label_values(&[what]);
        }
        let m = AgentMetrics {
            registry,
            port_packets,
            port_bytes,
            rule_packets,
            drops,
            dhcp_replies,
            conntrack,
            applied_revision,
            connected,
            state,
            reconnects,
            repairs,
            apply_errors,
            apply_seconds,
            seen: Mutex::new(BTreeMap::new()),
        };
        m.set_sync_state(SyncState::Connecting);
        m
    }

    /// Records the sync state.
    pub fn set_sync_state(&self, current: SyncState) {
        for s in SyncState::ALL {
            self.state
                .with_label_values(&[s.label()])
                .set(i64::from(s == current));
        }
        self.connected
            .set(i64::from(current == SyncState::Connected));
    }

    /// Moves a counter to an absolute value read from the kernel (a smaller value means the
    /// kernel counter restarted: the series restarts too).
    fn advance(&self, vec: &IntCounterVec, name: &str, labels: &[&str], value: u64) {
        let key = (
            name.to_owned(),
            labels.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
        );
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let last = seen.get(&key).copied().unwrap_or(0);
        let counter = vec.with_label_values(labels);
        if value >= last {
            counter.inc_by(value - last);
        } else {
            counter.reset();
            counter.inc_by(value);
        }
        seen.insert(key, value);
    }

    /// Takes in what the kernel reports; `ids` names rules by their API id.
    pub fn observe(&self, reading: &KernelReading, ids: &RuleIds) {
        for port in &reading.ports {
            let sides = [
                ("ingress", &port.verdicts.ingress),
                ("egress", &port.verdicts.egress),
            ];
            for (direction, side) in sides {
                let mut verdicts = vec![("rule", side.by_rule)];
                for b in Builtin::ALL {
                    if let Some(c) = side.by_builtin.get(&b) {
                        verdicts.push((b.name(), *c));
                    }
                }
                for (verdict, c) in verdicts {
                    let labels = [port.id.as_str(), direction, verdict];
                    self.advance(&self.port_packets, "pp", &labels, c.packets);
                    self.advance(&self.port_bytes, "pb", &labels, c.bytes);
                }
            }
        }
        let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
        for (id, c) in &reading.rules {
            let name = ids
                .key(*id)
                .map_or_else(|| format!("unknown-{id}"), |k| k.rule.clone());
            *by_rule.entry(name).or_default() += c.packets;
        }
        for (rule, packets) in by_rule {
            self.advance(&self.rule_packets, "rule", &[&rule], packets);
        }
        for (reason, packets) in &reading.drops {
            self.advance(&self.drops, "drop", &[reason.label()], *packets);
        }
        for (net, replies) in &reading.dhcp_replies {
            self.advance(&self.dhcp_replies, "dhcp", &[net], *replies);
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("text exposition is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::DropReason;

    #[test]
    fn kernel_counters_become_prometheus_counters() {
        let m = AgentMetrics::new();
        let mut r = KernelReading::default();
        r.drops.insert(DropReason::SpoofIp, 5);
        m.observe(&r, &RuleIds::new());
        r.drops.insert(DropReason::SpoofIp, 7);
        m.observe(&r, &RuleIds::new());
        let text = m.render();
        assert!(
            text.contains("sdn_agent_drops_total{reason=\"spoof_ip\"} 7"),
            "{text}"
        );
        // A restarted kernel counter restarts the series.
        r.drops.insert(DropReason::SpoofIp, 2);
        m.observe(&r, &RuleIds::new());
        assert!(
            m.render()
                .contains("sdn_agent_drops_total{reason=\"spoof_ip\"} 2")
        );
    }

    #[test]
    fn sync_state_is_one_hot() {
        let m = AgentMetrics::new();
        m.set_sync_state(SyncState::Disconnected);
        let text = m.render();
        assert!(text.contains("sdn_agent_sync_state{state=\"disconnected\"} 1"));
        assert!(text.contains("sdn_agent_sync_state{state=\"connected\"} 0"));
        assert!(text.contains("sdn_agent_sync_connected 0"));
        assert!(text.contains("sdn_agent_repairs_total{what=\"network\"} 0"));
    }
}
