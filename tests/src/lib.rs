//! End-to-end labs: network namespaces, veths and real processes, cleaned up even on panic.
//!
//! A [`Lab`] is a small cloud built from network namespaces on this machine:
//!
//! ```text
//!              fabric netns: bridge <prefix>br   (underlay 198.18.0.0/24, 2001:db8::/64)
//!               /                 |                      \
//!   hypervisor netns hv1    hypervisor netns hv2     client netns c1 (eth0 198.18.0.101)
//!   uplink 198.18.0.1       uplink 198.18.0.2
//!     |- <prefix>p1 ==veth== instance netns vm1 (eth0 198.18.1.1)
//!     `- <prefix>p2 ==veth== instance netns vm2 (eth0 198.18.1.2)
//! ```
//!
//! Every namespace, link, pin directory and process of a lab carries one prefix unique to the run
//! (`sdnt` plus six base-36 characters). Dropping the `Lab`, also while a panic unwinds, kills its
//! processes and removes its namespaces (and with them their veths and bridges), root-namespace links
//! with its prefix, its pin tree `/sys/fs/bpf/<prefix>/` and its logs. What a crashed run leaves is
//! removed by [`clean_leftovers`] (`cargo xtask lab-clean`), which spares labs whose owner still runs.
//!
//! **Safety invariant**: labs only use 198.18.0.0/15 and 2001:db8::/32 ([`Cidr`] refuses anything
//! else), and no lab namespace is connected to the root namespace, so lab traffic cannot leave the lab.
//!
//! A lab test:
//!
//! ```no_run
//! use sdn_tests::{InstanceSpec, Lab};
//!
//! if !sdn_ebpf::privilege::gate("lab", sdn_tests::probe()) {
//!     return;
//! }
//! let mut lab = Lab::new("ping-two-instances");
//! lab.add_hypervisor("hv1");
//! let vm1 = lab.add_instance("vm1", "hv1", InstanceSpec::new().ipv4("198.18.1.1/24"));
//! let vm2 = lab.add_instance("vm2", "hv1", InstanceSpec::new().ipv4("198.18.1.2/24"));
//! lab.add_bridge("hv1", &[&vm1.port, &vm2.port]);
//! lab.exec("vm1", &["ping", "-c", "3", "-W", "2", "198.18.1.2"]);
//! ```
//!
//! Test binaries shell out to `ip`, `nsenter`, `ethtool` and `sysctl`; see `docs/lab.md` for the
//! addressing plan and how to write lab tests.

mod address;
pub mod cloud;
mod command;
mod error;
mod lab;
mod naming;
mod owner;
mod probe;
mod remnants;
pub mod scenario;

pub use address::{Cidr, Mac, is_lab_address};
pub use command::PREFIX_ENV;
pub use error::{CommandRun, LabError, Result};
pub use lab::{Client, Fabric, GUEST_NIC, Hypervisor, Instance, InstanceSpec, Lab, LabProcess};
pub use naming::{COMMON_PREFIX, PREFIX_LEN, is_lab_prefix};
pub use probe::probe;
pub use remnants::{CleanReport, LeftoverProcess, Remnants, clean_leftovers};
