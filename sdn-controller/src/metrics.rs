//! Prometheus metrics of one controller replica, in their own registry (served on `/metrics`).
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `sdn_api_requests_total` | counter | `method`, `code` |
//! | `sdn_api_request_seconds` | histogram | `method` |
//! | `sdn_agents_connected` | gauge | |
//! | `sdn_node_lag_revisions` | gauge | `node` (revisions sent but not yet acknowledged) |
//! | `sdn_propagation_seconds` | histogram | (commit seen -> agent ack) |
//! | `sdn_sync_snapshots_total`, `sdn_sync_deltas_total`, `sdn_sync_overflows_total` | counter | |

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric of the controller; clones share them.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// API calls by method and gRPC code.
    pub api_requests: IntCounterVec,
    /// API latency by method.
    pub api_seconds: HistogramVec,
    /// Agents connected to this replica.
    pub agents: IntGauge,
    /// Revisions sent to a node and not yet acknowledged.
    pub node_lag: IntGaugeVec,
    /// From a revision's commit to a node's ack of it.
    pub propagation: Histogram,
    /// Snapshots sent.
    pub snapshots: IntCounter,
    /// Deltas queued.
    pub deltas: IntCounter,
    /// Outboxes that overflowed into a snapshot.
    pub overflows: IntCounter,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set of metrics in its own registry.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let api_requests = IntCounterVec::new(
            Opts::new(
                "sdn_api_requests_total",
                "API calls by method and gRPC code",
            ),
            &["method", "code"],
        )
        .expect("valid metric");
        let api_seconds = HistogramVec::new(
            HistogramOpts::new("sdn_api_request_seconds", "API call latency by method")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["method"],
        )
        .expect("valid metric");
        let agents =
            IntGauge::new("sdn_agents_connected", "agents connected to this replica").expect("ok");
        let node_lag = IntGaugeVec::new(
            Opts::new(
                "sdn_node_lag_revisions",
                "revisions sent to a node and not yet acknowledged",
            ),
            &["node"],
        )
        .expect("valid metric");
        let propagation = Histogram::with_opts(
            HistogramOpts::new(
                "sdn_propagation_seconds",
                "from a revision's commit to a node's ack of it",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        let snapshots =
            IntCounter::new("sdn_sync_snapshots_total", "snapshots sent to agents").expect("ok");
        let deltas =
            IntCounter::new("sdn_sync_deltas_total", "deltas queued for agents").expect("ok");
        let overflows = IntCounter::new(
            "sdn_sync_overflows_total",
            "agent outboxes that overflowed into a snapshot",
        )
        .expect("ok");
        for c in [
            Box::new(api_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(api_seconds.clone()),
            Box::new(agents.clone()),
            Box::new(node_lag.clone()),
            Box::new(propagation.clone()),
            Box::new(snapshots.clone()),
            Box::new(deltas.clone()),
            Box::new(overflows.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            api_requests,
            api_seconds,
            agents,
            node_lag,
            propagation,
            snapshots,
            deltas,
            overflows,
        }
    }

    /// Records one API call.
    pub fn api_call(&self, method: &str, code: tonic::Code, seconds: f64) {
        self.api_requests
            .with_label_values(&[method, &format!("{code:?}")])
            .inc();
        self.api_seconds
            .with_label_values(&[method])
            .observe(seconds);
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
