//! The command line: every subcommand, its flags and its examples (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::Format;
use crate::spec::parse_duration;

const TOP_EXAMPLES: &str = "\
Examples:
  # plaintext lab controller
  sdnctl --insecure --controller 127.0.0.1:7450 networks list
  # production: mutual TLS with an operator certificate
  export SDNCTL_CONTROLLER=https://ctl.zone1:7450 SDNCTL_CA=ca.pem SDNCTL_CERT=op.pem SDNCTL_KEY=op.key
  sdnctl ports get 3f0c8a8e-...
  # has a security-group change reached every hypervisor?
  sdnctl status group 9d1e... || echo \"still converging\"
  sdnctl -o json lbs list | jq '.items[].vip'

Exit codes: 0 ok, 1 other, 2 usage, 3 unreachable, 4 not found, 5 permission denied,
6 invalid argument, 7 stale revision, 8 already exists, 9 failed precondition, 10 exhausted,
11 wait timed out, 12 not converged, 13 unsupported by the controller, 14 not built yet.";

/// `sdnctl`: inspect and change the SDN controller's resources, and see whether a change has
/// reached every hypervisor.
#[derive(Debug, Parser)]
#[command(name = "sdnctl", version, after_help = TOP_EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// Controller address: host:port, http://host:port (with --insecure) or https://host:port.
    #[arg(
        long,
        global = true,
        env = "SDNCTL_CONTROLLER",
        default_value = "127.0.0.1:7450",
        value_name = "URL"
    )]
    pub controller: String,
    /// Plaintext gRPC, for a controller started with --insecure (labs, tests).
    #[arg(
        long,
        global = true,
        env = "SDNCTL_INSECURE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub insecure: bool,
    /// CA certificate (PEM) that signed the controller's server certificate.
    #[arg(long, global = true, env = "SDNCTL_CA", value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Operator client certificate (PEM), naming spiffe://sdn/operator/<name> (or orchestrator).
    #[arg(long, global = true, env = "SDNCTL_CERT", value_name = "PEM")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, global = true, env = "SDNCTL_KEY", value_name = "PEM")]
    pub key: Option<PathBuf>,
    /// Name to verify in the controller's certificate when it differs from the URL's host.
    #[arg(
        long,
        global = true,
        env = "SDNCTL_TLS_SERVER_NAME",
        value_name = "NAME"
    )]
    pub tls_server_name: Option<String>,
    /// Output format.
    #[arg(
        short = 'o',
        long,
        global = true,
        value_enum,
        default_value_t = Format::Table,
        env = "SDNCTL_OUTPUT"
    )]
    pub output: Format,
    /// Deadline of each call to the controller (a --wait extends it).
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Private networks (VXLAN, IPAM).
    #[command(visible_alias = "network", alias = "net", after_help = NETWORK_EXAMPLES)]
    Networks {
        /// What to do with networks.
        #[command(subcommand)]
        action: NetworkAction,
    },
    /// Ports: instances' NICs on nodes.
    #[command(visible_alias = "port", after_help = PORT_EXAMPLES)]
    Ports {
        /// What to do with ports.
        #[command(subcommand)]
        action: PortAction,
    },
    /// Security groups and their rules.
    #[command(visible_aliases = ["group", "sg"], after_help = GROUP_EXAMPLES)]
    Groups {
        /// What to do with security groups.
        #[command(subcommand)]
        action: GroupAction,
    },
    /// Network load balancers: services, backends and their health.
    #[command(visible_alias = "lb", after_help = LB_EXAMPLES)]
    Lbs {
        /// What to do with load balancers.
        #[command(subcommand)]
        action: LbAction,
    },
    /// Hypervisor nodes.
    #[command(visible_alias = "node", after_help = NODE_EXAMPLES)]
    Nodes {
        /// What to do with nodes.
        #[command(subcommand)]
        action: NodeAction,
    },
    /// Convergence receipt: which nodes must apply an object, which have, which lag (named), and
    /// how long applying took. Exits 12 while any node lags.
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// NOT YET: conntrack entries and live flow events with the deciding rule (needs the agent API).
    #[command(after_help = NOT_YET_HELP)]
    Flows(FlowsArgs),
    /// NOT YET: run a described packet through a node's real eBPF program (needs the agent API).
    #[command(after_help = NOT_YET_HELP)]
    Trace(TraceArgs),
    /// NOT YET: per-port and per-rule counters (needs the agent API).
    #[command(after_help = NOT_YET_HELP)]
    Counters(CountersArgs),
    /// Print a shell completion script.
    #[command(after_help = COMPLETION_EXAMPLES)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

const NOT_YET_HELP: &str = "\
Not built yet: this needs the node agent's API. The command exits 14 with one line and prints
nothing else; see docs/sdnctl.md (\"Not yet\").";

const COMPLETION_EXAMPLES: &str = "\
Examples:
  sdnctl completions bash > /etc/bash_completion.d/sdnctl
  sdnctl completions zsh > \"${fpath[1]}/_sdnctl\"
  sdnctl completions fish > ~/.config/fish/completions/sdnctl.fish";

/// Options shared by every `list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Stop after this many objects (default: every page).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// One object by id.
#[derive(Debug, Clone, Args)]
pub struct IdArg {
    /// Object id (UUID).
    pub id: String,
}

/// Options of every `delete`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Object id (UUID).
    pub id: String,
    /// Revision you last saw; refused (exit 7) when the object changed since. Default: whatever is
    /// current.
    #[arg(long, default_value_t = 0)]
    pub revision: i64,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub wait: WaitArg,
}

/// `--wait`, on calls whose API can wait.
#[derive(Debug, Clone, Args)]
pub struct WaitArg {
    /// Return only once every node concerned applied the change; after DURATION exit 11 naming the
    /// laggards (the change itself is committed). Needs a controller running its sync service.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub wait: Option<Duration>,
}

/// `--revision` of updates.
#[derive(Debug, Clone, Args)]
pub struct RevisionArg {
    /// Revision you last saw (from get/list); the update is refused with exit 7 when the object
    /// changed since. Default: the revision sdnctl reads just before writing.
    #[arg(long)]
    pub revision: Option<i64>,
}

const NETWORK_EXAMPLES: &str = "\
Examples:
  sdnctl networks list
  sdnctl networks create --name web --ipv4-cidr 198.18.10.0/24 --end-ipv4 198.18.10.200
  sdnctl networks create --name v6 --ipv4-cidr 198.18.11.0/24 --ipv6-prefix 2001:db8:11::/64 --vni 4242
  sdnctl networks update 0b1c... --revision 41 --add-static-lease 02:00:00:00:00:10=198.18.10.10
  sdnctl networks delete 0b1c...";

/// Network subcommands.
#[derive(Debug, Subcommand)]
pub enum NetworkAction {
    /// List networks.
    #[command(
        visible_alias = "ls",
        after_help = "Example:\n  sdnctl networks list -o json"
    )]
    List(ListArgs),
    /// Show one network with its range and static leases.
    #[command(after_help = "Example:\n  sdnctl networks get 0b1c...")]
    Get(IdArg),
    /// Create a network; the controller allocates its VNI unless --vni is given.
    #[command(after_help = NETWORK_EXAMPLES)]
    Create(NetworkCreate),
    /// Change a network's name, description, ranges or static leases (CIDRs, VNI and mode are fixed).
    #[command(after_help = NETWORK_EXAMPLES)]
    Update(NetworkUpdate),
    /// Delete a network (refused, exit 9, while ports are attached).
    #[command(
        visible_alias = "rm",
        after_help = "Example:\n  sdnctl networks delete 0b1c... --revision 41"
    )]
    Delete(DeleteArgs),
}

/// `networks create`.
#[derive(Debug, Clone, Args)]
pub struct NetworkCreate {
    /// Name.
    #[arg(long)]
    pub name: String,
    /// IPv4 prefix (/8 to /30).
    #[arg(long, value_name = "CIDR")]
    pub ipv4_cidr: String,
    /// Optional IPv6 prefix (/48 to /120).
    #[arg(long, value_name = "PREFIX")]
    pub ipv6_prefix: Option<String>,
    /// VNI to use (1 to 16777215); allocated when absent.
    #[arg(long)]
    pub vni: Option<u32>,
    /// The customer configures addresses (no IPAM, no DHCP).
    #[arg(long)]
    pub unmanaged: bool,
    /// Free-form description.
    #[arg(long, default_value = "")]
    pub description: String,
    /// First IPv4 address handed out.
    #[arg(long, value_name = "ADDR")]
    pub start_ipv4: Option<String>,
    /// Last IPv4 address handed out.
    #[arg(long, value_name = "ADDR")]
    pub end_ipv4: Option<String>,
    /// First IPv6 address handed out.
    #[arg(long, value_name = "ADDR")]
    pub start_ipv6: Option<String>,
    /// Last IPv6 address handed out.
    #[arg(long, value_name = "ADDR")]
    pub end_ipv6: Option<String>,
    /// A reservation MAC=IPV4[,IPV6]; repeat for more.
    #[arg(long = "static-lease", value_name = "MAC=IPV4[,IPV6]")]
    pub static_leases: Vec<String>,
}

/// `networks update`.
#[derive(Debug, Clone, Args)]
pub struct NetworkUpdate {
    /// Network id.
    pub id: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub revision: RevisionArg,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// New first IPv4 address handed out.
    #[arg(long, value_name = "ADDR")]
    pub start_ipv4: Option<String>,
    /// New last IPv4 address handed out.
    #[arg(long, value_name = "ADDR")]
    pub end_ipv4: Option<String>,
    /// New first IPv6 address handed out.
    #[arg(long, value_name = "ADDR")]
    pub start_ipv6: Option<String>,
    /// New last IPv6 address handed out.
    #[arg(long, value_name = "ADDR")]
    pub end_ipv6: Option<String>,
    /// Add (or replace, for its MAC) a reservation MAC=IPV4[,IPV6].
    #[arg(long = "add-static-lease", value_name = "MAC=IPV4[,IPV6]")]
    pub add_static_leases: Vec<String>,
    /// Remove the reservation of this MAC.
    #[arg(long = "remove-static-lease", value_name = "MAC")]
    pub remove_static_leases: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub wait: WaitArg,
}

const PORT_EXAMPLES: &str = "\
Examples:
  sdnctl ports list --node 5a2e... --network 0b1c...
  sdnctl ports create --name vm1-eth0 --instance vm-1 --node 5a2e... --network 0b1c... --group 9d1e...
  sdnctl ports create --name db --instance vm-2 --node 5a2e... --network 0b1c... --ipv4 198.18.10.20 --wait 10s
  sdnctl ports update 3f0c... --add-group 9d1e... --wait 10s
  sdnctl ports delete 3f0c...";

/// Port subcommands.
#[derive(Debug, Subcommand)]
pub enum PortAction {
    /// List ports, optionally on one node or network.
    #[command(
        visible_alias = "ls",
        after_help = "Example:\n  sdnctl ports list --node 5a2e..."
    )]
    List(PortList),
    /// Show one port.
    #[command(after_help = "Example:\n  sdnctl ports get 3f0c...")]
    Get(IdArg),
    /// Create a port; MAC and addresses are allocated unless given.
    #[command(after_help = PORT_EXAMPLES)]
    Create(PortCreate),
    /// Change a port's name or security groups.
    #[command(after_help = PORT_EXAMPLES)]
    Update(PortUpdate),
    /// Delete a port (it goes through `deleting` until its node acknowledges).
    #[command(
        visible_alias = "rm",
        after_help = "Example:\n  sdnctl ports delete 3f0c... --wait 10s"
    )]
    Delete(DeleteArgs),
}

/// `ports list`.
#[derive(Debug, Clone, Args)]
pub struct PortList {
    /// Only ports on this node.
    #[arg(long, value_name = "NODE_ID")]
    pub node: Option<String>,
    /// Only ports on this network.
    #[arg(long, value_name = "NETWORK_ID")]
    pub network: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub list: ListArgs,
}

/// `ports create`.
#[derive(Debug, Clone, Args)]
pub struct PortCreate {
    /// Name.
    #[arg(long)]
    pub name: String,
    /// The orchestrator's instance id.
    #[arg(long = "instance", value_name = "INSTANCE_ID")]
    pub instance_id: String,
    /// Hosting node.
    #[arg(long, value_name = "NODE_ID")]
    pub node: String,
    /// Attached network.
    #[arg(long, value_name = "NETWORK_ID")]
    pub network: String,
    /// MAC (allocated when absent).
    #[arg(long)]
    pub mac: Option<String>,
    /// IPv4 address (allocated from the range when absent on a managed network).
    #[arg(long, value_name = "ADDR")]
    pub ipv4: Option<String>,
    /// IPv6 address.
    #[arg(long, value_name = "ADDR")]
    pub ipv6: Option<String>,
    /// Security group; repeat for more (order kept).
    #[arg(long = "group", value_name = "GROUP_ID")]
    pub groups: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub wait: WaitArg,
}

/// `ports update`.
#[derive(Debug, Clone, Args)]
pub struct PortUpdate {
    /// Port id.
    pub id: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub revision: RevisionArg,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// Replace the groups with this comma-separated list (empty: no group).
    #[arg(long, value_name = "ID,ID...", conflicts_with_all = ["add_groups", "remove_groups"])]
    pub set_groups: Option<String>,
    /// Append a group.
    #[arg(long = "add-group", value_name = "GROUP_ID")]
    pub add_groups: Vec<String>,
    /// Remove a group.
    #[arg(long = "remove-group", value_name = "GROUP_ID")]
    pub remove_groups: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub wait: WaitArg,
}

const GROUP_EXAMPLES: &str = "\
Rules are written DIRECTION PROTOCOL [PORT|FROM-TO] [type T [code C]] [from|to REMOTE] [desc TEXT]
where REMOTE is a CIDR, group:GROUP_ID or any.

Examples:
  sdnctl groups create --name web --rule 'ingress tcp 80 from 0.0.0.0/0' --rule 'ingress tcp 443 from 0.0.0.0/0'
  sdnctl groups add-rule 9d1e... 'ingress tcp 22 from 198.51.100.0/24 desc bastion' --wait 10s
  sdnctl groups add-rule 9d1e... 'ingress icmp type 8 from group:9d1e...'
  sdnctl groups remove-rule 9d1e... 5c7a... --existing-flows revoke
  sdnctl groups get 9d1e... -o json | jq '.rules[] | {id, spec}'";

/// Security-group subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupAction {
    /// List security groups.
    #[command(visible_alias = "ls", after_help = "Example:\n  sdnctl groups list")]
    List(ListArgs),
    /// Show one group with its rules.
    #[command(after_help = "Example:\n  sdnctl groups get 9d1e...")]
    Get(IdArg),
    /// Create a group.
    #[command(after_help = GROUP_EXAMPLES)]
    Create(GroupCreate),
    /// Change a group's name or description (rules: add-rule, remove-rule).
    #[command(after_help = "Example:\n  sdnctl groups update 9d1e... --description 'public web'")]
    Update(GroupUpdate),
    /// Add rules; their ids are assigned by the controller.
    #[command(after_help = GROUP_EXAMPLES)]
    AddRule(GroupAddRule),
    /// Remove rules by id; --existing-flows says what happens to the flows they admitted.
    #[command(after_help = GROUP_EXAMPLES)]
    RemoveRule(GroupRemoveRule),
    /// Delete a group (refused, exit 9, while ports or groups use it).
    #[command(
        visible_alias = "rm",
        after_help = "Example:\n  sdnctl groups delete 9d1e..."
    )]
    Delete(DeleteArgs),
    /// NOT YET: rules with no hit since DURATION (needs the agent's counters).
    #[command(after_help = NOT_YET_HELP)]
    UnusedRules(UnusedRulesArgs),
}

/// `groups create`.
#[derive(Debug, Clone, Args)]
pub struct GroupCreate {
    /// Name.
    #[arg(long)]
    pub name: String,
    /// Free-form description.
    #[arg(long, default_value = "")]
    pub description: String,
    /// A rule (see the syntax below); repeat for more.
    #[arg(long = "rule", value_name = "RULE")]
    pub rules: Vec<String>,
}

/// `groups update`.
#[derive(Debug, Clone, Args)]
pub struct GroupUpdate {
    /// Group id.
    pub id: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub revision: RevisionArg,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub wait: WaitArg,
}

/// `groups add-rule`.
#[derive(Debug, Clone, Args)]
pub struct GroupAddRule {
    /// Group id.
    pub id: String,
    /// Rules (each one argument, quoted).
    #[arg(required = true, value_name = "RULE")]
    pub rules: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub revision: RevisionArg,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub wait: WaitArg,
}

/// What happens to established flows admitted by removed rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExistingFlows {
    /// They keep going until they end (default, as AWS does).
    Keep,
    /// Every node cuts them.
    Revoke,
}

/// `groups remove-rule`.
#[derive(Debug, Clone, Args)]
pub struct GroupRemoveRule {
    /// Group id.
    pub id: String,
    /// Rule ids.
    #[arg(required = true, value_name = "RULE_ID")]
    pub rule_ids: Vec<String>,
    /// What happens to established flows the removed rules admitted.
    #[arg(long, value_enum, default_value_t = ExistingFlows::Keep)]
    pub existing_flows: ExistingFlows,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub revision: RevisionArg,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub wait: WaitArg,
}

/// `groups unused-rules` (not yet).
#[derive(Debug, Clone, Args)]
pub struct UnusedRulesArgs {
    /// Only this group.
    pub id: Option<String>,
    /// Rules with no hit for this long.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", default_value = "7d")]
    pub since: Duration,
}

const LB_EXAMPLES: &str = "\
Services are written NAME tcp|udp PORT [to TARGET_PORT] [maglev|source-ip]; backends
SERVICE=PORT_ID[:WEIGHT] (weight 0..1000, default 100, 0 drains); health checks
SERVICE tcp|http [path P] [status N] [port N] [interval D] [timeout D] [down N] [up N].

Examples:
  sdnctl lbs create --name www --vip 203.0.113.10 --service 'web tcp 80 to 8080' \\
      --backend web=3f0c... --backend web=7d21...:50 --health-check 'web http path /healthz'
  sdnctl lbs update 61aa... --backend web=7d21...:0        # drain a backend
  sdnctl lbs update 61aa... --remove-backend web=7d21... --wait 10s
  sdnctl lbs get 61aa...                                   # per-backend health and why";

/// Load-balancer subcommands.
#[derive(Debug, Subcommand)]
pub enum LbAction {
    /// List load balancers with their backend health summary.
    #[command(visible_alias = "ls", after_help = "Example:\n  sdnctl lbs list")]
    List(ListArgs),
    /// Show one load balancer: services, health checks, per-backend health and its reason.
    #[command(after_help = "Example:\n  sdnctl lbs get 61aa...")]
    Get(IdArg),
    /// Create a load balancer.
    #[command(after_help = LB_EXAMPLES)]
    Create(LbCreate),
    /// Change name, description, services, backends or health checks (the VIP is fixed).
    #[command(after_help = LB_EXAMPLES)]
    Update(LbUpdate),
    /// Delete a load balancer and release its VIP.
    #[command(
        visible_alias = "rm",
        after_help = "Example:\n  sdnctl lbs delete 61aa..."
    )]
    Delete(DeleteArgs),
}

/// `lbs create`.
#[derive(Debug, Clone, Args)]
pub struct LbCreate {
    /// Name.
    #[arg(long)]
    pub name: String,
    /// Virtual IP (IPv4).
    #[arg(long)]
    pub vip: String,
    /// Free-form description.
    #[arg(long, default_value = "")]
    pub description: String,
    /// A service; repeat for more.
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// A backend SERVICE=PORT_ID[:WEIGHT]; repeat for more.
    #[arg(long = "backend", value_name = "SERVICE=PORT_ID[:WEIGHT]")]
    pub backends: Vec<String>,
    /// A service's health check (default: tcp connect on the target port).
    #[arg(long = "health-check", value_name = "CHECK")]
    pub health_checks: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub wait: WaitArg,
}

/// `lbs update`.
#[derive(Debug, Clone, Args)]
pub struct LbUpdate {
    /// Load balancer id.
    pub id: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub revision: RevisionArg,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// Add a service.
    #[arg(long = "add-service", value_name = "SERVICE")]
    pub add_services: Vec<String>,
    /// Remove a service by name.
    #[arg(long = "remove-service", value_name = "NAME")]
    pub remove_services: Vec<String>,
    /// Add a backend, or change its weight: SERVICE=PORT_ID[:WEIGHT].
    #[arg(long = "backend", value_name = "SERVICE=PORT_ID[:WEIGHT]")]
    pub backends: Vec<String>,
    /// Remove a backend: SERVICE=PORT_ID.
    #[arg(long = "remove-backend", value_name = "SERVICE=PORT_ID")]
    pub remove_backends: Vec<String>,
    /// Replace a service's health check.
    #[arg(long = "health-check", value_name = "CHECK")]
    pub health_checks: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub wait: WaitArg,
}

const NODE_EXAMPLES: &str = "\
Examples:
  sdnctl nodes list
  sdnctl nodes create --name hv-12 --underlay-ip 198.18.0.12 --role compute
  sdnctl nodes update 5a2e... --cordon          # take it out of placement
  sdnctl nodes update 5a2e... --role compute --role lb --revision 77";

/// Node subcommands.
#[derive(Debug, Subcommand)]
pub enum NodeAction {
    /// List nodes with their state and applied revision.
    #[command(visible_alias = "ls", after_help = "Example:\n  sdnctl nodes list")]
    List(ListArgs),
    /// Show one node.
    #[command(after_help = "Example:\n  sdnctl nodes get 5a2e...")]
    Get(IdArg),
    /// Pre-register a node (agents register themselves on their first hello).
    #[command(after_help = NODE_EXAMPLES)]
    Create(NodeCreate),
    /// Change a node's name or roles, or cordon/uncordon it.
    #[command(after_help = NODE_EXAMPLES)]
    Update(NodeUpdate),
    /// Delete a node (refused, exit 9, while ports are on it).
    #[command(
        visible_alias = "rm",
        after_help = "Example:\n  sdnctl nodes delete 5a2e..."
    )]
    Delete(DeleteArgs),
}

/// A node role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Hosts instances.
    Compute,
    /// Runs the load-balancer dataplane.
    Lb,
}

/// `nodes create`.
#[derive(Debug, Clone, Args)]
pub struct NodeCreate {
    /// Name.
    #[arg(long)]
    pub name: String,
    /// The node's configured UUID (generated when absent).
    #[arg(long)]
    pub id: Option<String>,
    /// Underlay (VTEP) address.
    #[arg(long, value_name = "ADDR")]
    pub underlay_ip: String,
    /// Role; repeat for more.
    #[arg(long = "role", value_enum, required = true)]
    pub roles: Vec<Role>,
}

/// `nodes update`.
#[derive(Debug, Clone, Args)]
pub struct NodeUpdate {
    /// Node id.
    pub id: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub revision: RevisionArg,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New roles (replace the old ones); repeat for more.
    #[arg(long = "role", value_enum)]
    pub roles: Vec<Role>,
    /// Take the node out of placement (existing ports stay programmed).
    #[arg(long, conflicts_with = "uncordon")]
    pub cordon: bool,
    /// Put it back.
    #[arg(long)]
    pub uncordon: bool,
}

/// Kinds `status` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A private network.
    #[value(alias = "networks", alias = "net")]
    Network,
    /// A port.
    #[value(alias = "ports")]
    Port,
    /// A security group.
    #[value(alias = "groups", alias = "sg")]
    Group,
    /// A load balancer.
    #[value(alias = "lbs")]
    Lb,
    /// A node.
    #[value(alias = "nodes")]
    Node,
}

impl Kind {
    /// The singular word used in output.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Port => "port",
            Kind::Group => "group",
            Kind::Lb => "lb",
            Kind::Node => "node",
        }
    }
}

const STATUS_EXAMPLES: &str = "\
Exit status: 0 when every node concerned applied the object's current revision, 12 while any
lags (the laggards are named on stderr), 4 for an unknown id.

Examples:
  sdnctl status port 3f0c...
  sdnctl status group 9d1e... --wait 30s      # poll until converged, or exit 12 after 30 s
  sdnctl status network 0b1c... -o json | jq '.lagging[].node_name'";

/// `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Kind of the object.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Object id.
    pub id: String,
    /// Poll until converged, for at most DURATION (then exit 12 naming the laggards).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub wait: Option<Duration>,
}

/// Verdicts `flows` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Verdict {
    /// Admitted.
    Allow,
    /// Dropped.
    Deny,
}

/// `flows` (not yet).
#[derive(Debug, Clone, Args)]
pub struct FlowsArgs {
    /// Only this node (default: every node).
    #[arg(long, value_name = "NODE_ID")]
    pub node: Option<String>,
    /// Only this port.
    #[arg(long, value_name = "PORT_ID")]
    pub port: Option<String>,
    /// Only flows with this address at either end.
    #[arg(long, value_name = "ADDR")]
    pub ip: Option<String>,
    /// Only this protocol.
    #[arg(long)]
    pub proto: Option<String>,
    /// Only this verdict.
    #[arg(long, value_enum)]
    pub verdict: Option<Verdict>,
    /// Only flows decided by this rule id or built-in (`default-deny-ingress`, ...).
    #[arg(long)]
    pub rule: Option<String>,
    /// Keep printing live flow events.
    #[arg(long)]
    pub follow: bool,
}

/// `trace` (not yet).
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// Node whose program and maps run the packet.
    #[arg(long, value_name = "NODE_ID")]
    pub node: String,
    /// Port the packet enters or leaves.
    #[arg(long, value_name = "PORT_ID")]
    pub port: String,
    /// The packet, e.g. 'tcp 198.19.0.5:4242 -> 198.19.0.7:80 flags S'.
    pub packet: String,
}

/// `counters` (not yet).
#[derive(Debug, Clone, Args)]
pub struct CountersArgs {
    /// Only this port.
    #[arg(long, value_name = "PORT_ID")]
    pub port: Option<String>,
    /// Only this rule.
    #[arg(long, value_name = "RULE_ID")]
    pub rule: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sdnctl").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_anywhere() {
        let cli = parse(&[
            "networks",
            "list",
            "-o",
            "json",
            "--insecure",
            "--controller",
            "10.0.0.1:1",
        ])
        .unwrap();
        assert_eq!(cli.output, Format::Json);
        assert!(cli.insecure);
        assert_eq!(cli.controller, "10.0.0.1:1");
        assert!(matches!(
            cli.command,
            Command::Networks {
                action: NetworkAction::List(_)
            }
        ));
    }

    #[test]
    fn group_rule_commands() {
        let cli = parse(&[
            "sg",
            "remove-rule",
            "g1",
            "r1",
            "r2",
            "--existing-flows",
            "revoke",
            "--revision",
            "7",
        ])
        .unwrap();
        let Command::Groups {
            action: GroupAction::RemoveRule(r),
        } = cli.command
        else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(r.rule_ids, ["r1", "r2"]);
        assert_eq!(r.existing_flows, ExistingFlows::Revoke);
        assert_eq!(r.revision.revision, Some(7));
        assert!(
            parse(&[
                "groups",
                "remove-rule",
                "g1",
                "r1",
                "--existing-flows",
                "cut"
            ])
            .is_err()
        );
        assert!(
            parse(&["groups", "add-rule", "g1"]).is_err(),
            "a rule is required"
        );
    }

    #[test]
    fn status_and_waits() {
        let cli = parse(&["status", "sg", "x", "--wait", "2s"]).unwrap();
        let Command::Status(s) = cli.command else {
            panic!()
        };
        assert_eq!(s.kind, Kind::Group);
        assert_eq!(s.wait, Some(Duration::from_secs(2)));
        assert!(parse(&["status", "volume", "x"]).is_err());
        let cli = parse(&[
            "ports",
            "create",
            "--name",
            "p",
            "--instance",
            "i",
            "--node",
            "n",
            "--network",
            "w",
            "--group",
            "a",
            "--group",
            "b",
            "--wait",
            "500ms",
        ])
        .unwrap();
        let Command::Ports {
            action: PortAction::Create(p),
        } = cli.command
        else {
            panic!()
        };
        assert_eq!(p.groups, ["a", "b"]);
        assert_eq!(p.wait.wait, Some(Duration::from_millis(500)));
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["networks", "create", "--name", "x"][..],
            &["nodes", "update", "n", "--cordon", "--uncordon"],
            &[
                "ports",
                "update",
                "p",
                "--set-groups",
                "a",
                "--add-group",
                "b",
            ],
            &["-o", "xml", "nodes", "list"],
            &["nodes", "create", "--name", "x", "--underlay-ip", "1.2.3.4"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn every_command_has_examples() {
        fn walk(cmd: &clap::Command, path: &str) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_name() != "help" {
                let help = cmd
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(
                    help.contains("Example") || help.contains("Not built yet"),
                    "`{path}` has no examples in its help"
                );
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path);
            }
        }
        walk(&Cli::command(), "");
    }
}
