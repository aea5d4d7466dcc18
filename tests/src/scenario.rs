//! Ready-made labs shared by lab tests and the demo, so both show the same thing.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use node_agent::metering::{PortCounters, PortMetering};

use crate::{InstanceSpec, Lab};

/// One hypervisor, two instances on it joined by a bridge, and the metering programs attached to
/// both instance ports. Dropping it detaches the programs, then deletes the lab.
pub struct MeteredPair {
    /// Declared before `lab`: detach and unpin before the namespaces go.
    pub metering: Option<PortMetering>,
    /// The lab (hypervisor `hv1`, instances `vm1` and `vm2`).
    pub lab: Lab,
}

impl MeteredPair {
    /// IPv4 addresses of vm1 and vm2.
    pub const VM_IPV4: [&str; 2] = ["198.18.1.1", "198.18.1.2"];

    /// Builds the lab and attaches metering to both instance ports.
    ///
    /// # Panics
    /// When the lab or the programs cannot be set up (the message says why).
    pub fn new(name: &str) -> Self {
        let mut lab = Lab::new(name);
        lab.add_hypervisor("hv1");
        let vm1 = lab.add_instance(
            "vm1",
            "hv1",
            InstanceSpec::new()
                .ipv4(&format!("{}/24", Self::VM_IPV4[0]))
                .ipv6("2001:db8:1::1/64"),
        );
        let vm2 = lab.add_instance(
            "vm2",
            "hv1",
            InstanceSpec::new()
                .ipv4(&format!("{}/24", Self::VM_IPV4[1]))
                .ipv6("2001:db8:1::2/64"),
        );
        lab.add_bridge("hv1", &[&vm1.port, &vm2.port]);
        let mut metering = PortMetering::load(&lab.netns_path("hv1"), &lab.pin_dir("hv1"))
            .unwrap_or_else(|e| panic!("load metering: {e}"));
        for port in [&vm1.port, &vm2.port] {
            metering
                .attach(port)
                .unwrap_or_else(|e| panic!("attach metering to {port}: {e}"));
        }
        Self {
            metering: Some(metering),
            lab,
        }
    }

    /// The host-side port of `vm` (`vm1` or `vm2`).
    pub fn port(&self, vm: &str) -> &str {
        self.lab.port_name(vm)
    }

    /// The counters of `vm`'s port.
    pub fn counters(&self, vm: &str) -> PortCounters {
        self.metering
            .as_ref()
            .expect("metering attached")
            .counters(self.port(vm))
            .unwrap_or_else(|e| panic!("read counters of {vm}: {e}"))
    }

    /// A UDP socket bound inside `vm`'s namespace (it keeps working from any thread).
    pub fn udp_socket(&self, vm: &str, addr: IpAddr, port: u16) -> UdpSocket {
        let socket = self
            .lab
            .run_in(vm, move || UdpSocket::bind(SocketAddr::new(addr, port)));
        let socket = socket.unwrap_or_else(|e| panic!("bind udp {addr}:{port} in {vm}: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set timeout");
        socket
    }

    /// Detaches metering and unpins its maps and links; the lab stays.
    pub fn detach(&mut self) {
        if let Some(metering) = self.metering.take() {
            metering
                .unload()
                .unwrap_or_else(|e| panic!("unload metering: {e}"));
        }
    }
}

impl Drop for MeteredPair {
    fn drop(&mut self) {
        if let Some(metering) = self.metering.take()
            && let Err(e) = metering.unload()
        {
            eprintln!("metering unload failed (the lab's cleanup removes the rest): {e}");
        }
    }
}
