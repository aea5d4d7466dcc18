//! `sdn-lab`: labs from the command line. `cargo xtask demo` runs `sdn-lab demo`;
//! `cargo xtask lab-clean` runs `sdn-lab clean`.
//!
//! `sdn-lab demo [--seconds N]` starts etcd, the controller and two node agents (hypervisors of a
//! lab, two instances each), creates a private network, security groups and ports through the gRPC
//! API, runs allowed and denied traffic between the instances, and prints every second what the
//! kernel decided per port, until Ctrl-C, SIGTERM (or N seconds); then it leaves nothing behind.
//!
//! `sdn-lab clean` removes what crashed lab runs left on this machine (namespaces, links, pins,
//! processes, logs; see `sdn_tests::clean_leftovers`), sparing labs whose owner still runs, prints what
//! it removed and exits non-zero when something could not be removed. It needs root.

use anyhow::{Result, bail};

mod demo;

const USAGE: &str = "\
usage: sdn-lab <command>

commands:
  demo [--seconds N]  etcd, controller, two agents, security groups and live traffic; Ctrl-C ends it (needs root)
  clean               remove namespaces, links, pins and processes left by crashed lab runs (needs root)";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["clean"] => {
            if !nix::unistd::geteuid().is_root() {
                bail!("sdn-lab clean needs root: run `sudo -E cargo xtask lab-clean`");
            }
            let report = sdn_tests::clean_leftovers();
            print!("{report}");
            if !report.is_success() {
                bail!("some leftovers could not be removed; see above");
            }
            Ok(())
        }
        ["demo"] => demo::run(None),
        ["demo", "--seconds", n] => demo::run(Some(n.parse()?)),
        ["help"] | ["--help"] | ["-h"] | [] => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}
