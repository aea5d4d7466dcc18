//! `sdn-lab demo`: the end-to-end story as far as it goes today.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use node_agent::metering::PortCounters;
use sdn_tests::scenario::MeteredPair;

pub fn run(seconds: Option<u64>) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the demo builds network namespaces and loads eBPF: run `sudo -E cargo xtask demo`");
    }
    sdn_tests::probe().map_err(|e| anyhow::anyhow!("this machine cannot run a lab: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    ctrlc::set_handler(move || on_signal.store(true, Ordering::SeqCst))
        .context("install Ctrl-C handler")?;

    println!("building the lab: hypervisor hv1, instances vm1 and vm2, metering on both ports ...");
    let pair = MeteredPair::new("demo");
    let [ip1, ip2] = MeteredPair::VM_IPV4;
    println!(
        "lab {}: vm1 {ip1} on port {}, vm2 {ip2} on port {} (XDP on each port's receive side, TC on its transmit side)",
        pair.lab.prefix(),
        pair.port("vm1"),
        pair.port("vm2")
    );
    println!(
        "traffic: vm1 pings vm2 5 times a second; vm2 sends vm1 a 200-byte UDP datagram 20 times a second"
    );
    println!(
        "try it: `nsenter --net=/run/netns/{}-vm1 ping {ip2}` and watch vm1's counters\n",
        pair.lab.prefix()
    );

    let _ping = pair.lab.spawn("vm1", &["ping", "-i", "0.2", ip2]);
    let sender = pair.udp_socket("vm2", ip2.parse::<IpAddr>()?, 0);
    let receiver = pair.udp_socket("vm1", ip1.parse::<IpAddr>()?, 7777);
    let udp_stop = stop.clone();
    let udp = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !udp_stop.load(Ordering::SeqCst) {
            let _ = sender.send_to(&[0x5a; 200], (ip1, 7777));
            let _ = receiver.recv_from(&mut buf);
            std::thread::sleep(Duration::from_millis(50));
        }
    });

    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_secs(1));
        print_counters(
            started.elapsed(),
            &[("vm1", pair.counters("vm1")), ("vm2", pair.counters("vm2"))],
        );
        if seconds.is_some_and(|s| started.elapsed() >= Duration::from_secs(s)) {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let _ = udp.join();
    println!("\nstopping: detaching the programs and deleting the lab ...");
    drop(pair);
    println!("done: nothing left behind (`cargo xtask lab-clean` would say so too)");
    Ok(())
}

fn print_counters(elapsed: Duration, ports: &[(&str, PortCounters)]) {
    println!(
        "t={:>4}s  port        dir       packets      bytes   ipv4   ipv6    arp  other  malformed",
        elapsed.as_secs()
    );
    for (vm, c) in ports {
        for (dir, t) in [("egress", &c.egress), ("ingress", &c.ingress)] {
            let total = t.total();
            println!(
                "         {vm:<10}  {dir:<8} {:>8} {:>10} {:>6} {:>6} {:>6} {:>6} {:>10}",
                total.packets,
                total.bytes,
                t.ipv4.packets,
                t.ipv6.packets,
                t.arp.packets,
                t.other.packets,
                t.malformed.packets
            );
        }
    }
}
