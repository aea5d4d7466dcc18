//! Resource lifecycles as explicit finite state machines (states from product.md).
//!
//! Each machine is a pure function `(state, event) -> Result<next>`; every pair not listed is refused
//! with [`Error::InvalidTransition`] (FAILED_PRECONDITION). Re-applying an event that leads to the
//! current state is accepted (idempotent steps, so a controller that crashed mid-change can resume).
//!
//! ```text
//! Node:         pending --applied--> ready --lost--> unreachable --applied--> ready
//!               pending|ready|unreachable --cordon--> cordoned --uncordon--> pending
//! Port:         pending --applied--> programmed --changed--> pending
//!               pending|programmed --delete--> deleting --applied--> (removed)
//! LoadBalancer: creating --applied--> running --changed--> updating --applied--> running
//!               creating|running|updating --failed--> error --changed--> updating
//!               any but deleting --delete--> deleting --applied--> (removed)
//! ```

use crate::error::{Error, Result};
use crate::model::{Kind, LoadBalancerState, NodeState, PortState};

/// What happens to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeEvent {
    /// Its agent applied a snapshot or delta (it is alive and in sync).
    Applied,
    /// Its agent missed its heartbeats.
    Lost,
    /// An operator cordons it.
    Cordon,
    /// An operator uncordons it.
    Uncordon,
}

impl NodeEvent {
    fn name(self) -> &'static str {
        match self {
            NodeEvent::Applied => "applied",
            NodeEvent::Lost => "lost",
            NodeEvent::Cordon => "cordon",
            NodeEvent::Uncordon => "uncordon",
        }
    }
}

/// Lower-case name of a node state.
pub fn node_state_name(s: NodeState) -> &'static str {
    match s {
        NodeState::Pending => "pending",
        NodeState::Ready => "ready",
        NodeState::Unreachable => "unreachable",
        NodeState::Cordoned => "cordoned",
    }
}

/// The node's next state. A cordoned node stays cordoned whatever its agent does.
pub fn node_next(state: NodeState, event: NodeEvent) -> Result<NodeState> {
    use NodeEvent as E;
    use NodeState as S;
    let next = match (state, event) {
        (S::Pending | S::Ready | S::Unreachable, E::Applied) => S::Ready,
        (S::Ready | S::Unreachable, E::Lost) => S::Unreachable,
        (S::Pending, E::Lost) => S::Pending,
        (S::Pending | S::Ready | S::Unreachable | S::Cordoned, E::Cordon) => S::Cordoned,
        (S::Cordoned, E::Applied | E::Lost) => S::Cordoned,
        (S::Cordoned, E::Uncordon) => S::Pending,
        (S::Pending | S::Ready | S::Unreachable, E::Uncordon) => {
            return Err(refused(Kind::Node, node_state_name(state), event.name()));
        }
    };
    Ok(next)
}

/// What happens to a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortEvent {
    /// Its node acknowledged the port's current revision.
    Applied,
    /// The port (or a group it uses) changed.
    Changed,
    /// The port is being deleted.
    Delete,
}

/// Result of a port transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortNext {
    /// The port is in this state.
    State(PortState),
    /// The port is gone: its node removed it; release its addresses and delete the object.
    Removed,
}

fn port_state_name(s: PortState) -> &'static str {
    match s {
        PortState::Pending => "pending",
        PortState::Programmed => "programmed",
        PortState::Deleting => "deleting",
    }
}

/// The port's next state.
pub fn port_next(state: PortState, event: PortEvent) -> Result<PortNext> {
    use PortEvent as E;
    use PortState as S;
    match (state, event) {
        (S::Pending | S::Programmed, E::Applied) => Ok(PortNext::State(S::Programmed)),
        (S::Pending | S::Programmed, E::Changed) => Ok(PortNext::State(S::Pending)),
        (S::Pending | S::Programmed | S::Deleting, E::Delete) => Ok(PortNext::State(S::Deleting)),
        (S::Deleting, E::Applied) => Ok(PortNext::Removed),
        (S::Deleting, E::Changed) => Err(refused(Kind::Port, port_state_name(state), "changed")),
    }
}

/// What happens to a load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalancerEvent {
    /// Every LB node applied the current revision.
    Applied,
    /// Its services changed.
    Changed,
    /// A step failed.
    Failed,
    /// It is being deleted.
    Delete,
}

impl LoadBalancerEvent {
    fn name(self) -> &'static str {
        match self {
            LoadBalancerEvent::Applied => "applied",
            LoadBalancerEvent::Changed => "changed",
            LoadBalancerEvent::Failed => "failed",
            LoadBalancerEvent::Delete => "delete",
        }
    }
}

/// Result of a load-balancer transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalancerNext {
    /// The load balancer is in this state.
    State(LoadBalancerState),
    /// The load balancer is gone: release its VIP and delete the object.
    Removed,
}

/// Lower-case name of a load-balancer state.
pub fn load_balancer_state_name(s: LoadBalancerState) -> &'static str {
    match s {
        LoadBalancerState::Creating => "creating",
        LoadBalancerState::Running => "running",
        LoadBalancerState::Updating => "updating",
        LoadBalancerState::Deleting => "deleting",
        LoadBalancerState::Error => "error",
    }
}

/// The load balancer's next state.
pub fn load_balancer_next(
    state: LoadBalancerState,
    event: LoadBalancerEvent,
) -> Result<LoadBalancerNext> {
    use LoadBalancerEvent as E;
    use LoadBalancerState as S;
    let next = match (state, event) {
        (S::Creating, E::Applied) | (S::Updating, E::Applied) | (S::Running, E::Applied) => {
            S::Running
        }
        (S::Creating, E::Changed) => S::Creating,
        (S::Running | S::Updating | S::Error, E::Changed) => S::Updating,
        (S::Creating | S::Running | S::Updating | S::Error, E::Failed) => S::Error,
        (S::Creating | S::Running | S::Updating | S::Error | S::Deleting, E::Delete) => S::Deleting,
        (S::Deleting, E::Applied) => return Ok(LoadBalancerNext::Removed),
        (S::Error, E::Applied) | (S::Deleting, E::Changed | E::Failed) => {
            return Err(refused(
                Kind::LoadBalancer,
                load_balancer_state_name(state),
                event.name(),
            ));
        }
    };
    Ok(LoadBalancerNext::State(next))
}

fn refused(kind: Kind, from: &'static str, event: &'static str) -> Error {
    Error::InvalidTransition { kind, from, event }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lifecycle() {
        use NodeEvent as E;
        use NodeState as S;
        let table = [
            (S::Pending, E::Applied, Some(S::Ready)),
            (S::Ready, E::Lost, Some(S::Unreachable)),
            (S::Unreachable, E::Applied, Some(S::Ready)),
            (S::Ready, E::Applied, Some(S::Ready)),
            (S::Pending, E::Lost, Some(S::Pending)),
            (S::Ready, E::Cordon, Some(S::Cordoned)),
            (S::Unreachable, E::Cordon, Some(S::Cordoned)),
            (S::Cordoned, E::Applied, Some(S::Cordoned)),
            (S::Cordoned, E::Lost, Some(S::Cordoned)),
            (S::Cordoned, E::Uncordon, Some(S::Pending)),
            (S::Ready, E::Uncordon, None),
            (S::Pending, E::Uncordon, None),
        ];
        for (from, event, want) in table {
            let got = node_next(from, event).ok();
            assert_eq!(got, want, "{from:?} on {event:?}");
        }
        let err = node_next(S::Ready, E::Uncordon).unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        assert_eq!(err.to_string(), "node cannot go from ready on uncordon");
    }

    #[test]
    fn port_lifecycle() {
        use PortEvent as E;
        use PortState as S;
        let table = [
            (S::Pending, E::Applied, Some(PortNext::State(S::Programmed))),
            (S::Programmed, E::Changed, Some(PortNext::State(S::Pending))),
            (
                S::Programmed,
                E::Applied,
                Some(PortNext::State(S::Programmed)),
            ),
            (S::Programmed, E::Delete, Some(PortNext::State(S::Deleting))),
            (S::Pending, E::Delete, Some(PortNext::State(S::Deleting))),
            (S::Deleting, E::Delete, Some(PortNext::State(S::Deleting))),
            (S::Deleting, E::Applied, Some(PortNext::Removed)),
            (S::Deleting, E::Changed, None),
        ];
        for (from, event, want) in table {
            assert_eq!(port_next(from, event).ok(), want, "{from:?} on {event:?}");
        }
    }

    #[test]
    fn load_balancer_lifecycle() {
        use LoadBalancerEvent as E;
        use LoadBalancerNext::{Removed, State};
        use LoadBalancerState as S;
        let table = [
            (S::Creating, E::Applied, Some(State(S::Running))),
            (S::Running, E::Changed, Some(State(S::Updating))),
            (S::Updating, E::Applied, Some(State(S::Running))),
            (S::Updating, E::Changed, Some(State(S::Updating))),
            (S::Creating, E::Changed, Some(State(S::Creating))),
            (S::Running, E::Failed, Some(State(S::Error))),
            (S::Error, E::Changed, Some(State(S::Updating))),
            (S::Error, E::Delete, Some(State(S::Deleting))),
            (S::Running, E::Delete, Some(State(S::Deleting))),
            (S::Deleting, E::Applied, Some(Removed)),
            (S::Deleting, E::Changed, None),
            (S::Deleting, E::Failed, None),
            (S::Error, E::Applied, None),
        ];
        for (from, event, want) in table {
            assert_eq!(
                load_balancer_next(from, event).ok(),
                want,
                "{from:?} on {event:?}"
            );
        }
    }
}
