//! Running external programs inside a lab namespace.
//!
//! The harness shells out to `ip`, `nsenter`, `ethtool` and `sysctl` through `std::process`: these are
//! the tools an operator would type, their error messages are what a failing test should show, and a test
//! harness has no business owning a second netlink implementation (the node agent owns the real one).
//! Namespaces are entered with `nsenter --net=/run/netns/NAME`, never `ip netns exec`, which remounts
//! `/sys` and so hides the pins under `/sys/fs/bpf`.
//!
//! Every program runs in a process group of its own (so a timeout or cleanup kills what it forked too)
//! and with [`PREFIX_ENV`] set to the lab prefix (so `clean_leftovers` finds it even outside a lab
//! namespace).

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::error::{CommandRun, LabError, Result};

/// The environment variable that carries the lab prefix into every process a lab starts.
pub const PREFIX_ENV: &str = "SDN_LAB_PREFIX";

/// Where a program runs: a lab node's namespace, or the root namespace for the lab's own plumbing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place<'a> {
    /// The node name shown in messages (`root` for the root namespace).
    pub node: &'a str,
    /// The namespace name, or `None` for the root namespace.
    pub netns: Option<&'a str>,
    /// The lab prefix, put into [`PREFIX_ENV`].
    pub prefix: &'a str,
}

impl Place<'_> {
    fn netns_label(&self) -> &str {
        self.netns.unwrap_or("root")
    }

    /// The command that runs `argv` here; stdio is left to the caller.
    pub(crate) fn command<S: AsRef<OsStr>>(&self, argv: &[S]) -> Command {
        let (program, args) = argv.split_first().expect("a command line needs a program");
        let mut command = match self.netns {
            Some(netns) => {
                let mut c = Command::new("nsenter");
                let mut net = OsString::from("--net=");
                net.push(node_agent::netns::named(netns));
                c.arg(net).arg("--").arg(program);
                c
            }
            None => Command::new(program),
        };
        command
            .args(args)
            .env(PREFIX_ENV, self.prefix)
            .stdin(Stdio::null())
            .process_group(0);
        command
    }

    /// Starts `argv` here with stdout and stderr going to `log`.
    pub(crate) fn spawn_logged<S: AsRef<OsStr>>(&self, argv: &[S], log: &Path) -> Result<Child> {
        let io = |source| LabError::Io {
            action: "create process log",
            path: log.to_owned(),
            source,
        };
        let out = std::fs::File::create(log).map_err(io)?;
        let err = out.try_clone().map_err(io)?;
        self.command(argv)
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| LabError::Spawn {
                node: self.node.to_owned(),
                command: display(argv),
                source,
            })
    }

    /// Runs `argv` here to completion, killing it (and its process group) after `timeout`.
    ///
    /// A non-zero exit is an error carrying both outputs. Whatever the program left running in its
    /// process group is killed once it exits: use `Lab::spawn` for long-running programs.
    pub(crate) fn run<S: AsRef<OsStr>>(&self, argv: &[S], timeout: Duration) -> Result<Output> {
        let mut child = self
            .command(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| LabError::Spawn {
                node: self.node.to_owned(),
                command: display(argv),
                source,
            })?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let group = Pid::from_raw(child.id() as i32);
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Ok(None) | Err(_) => {
                    timed_out = true;
                    let _ = killpg(group, Signal::SIGKILL);
                    match child.wait() {
                        Ok(status) => break status,
                        Err(source) => {
                            return Err(LabError::Spawn {
                                node: self.node.to_owned(),
                                command: display(argv),
                                source,
                            });
                        }
                    }
                }
            }
        };
        // Stragglers in the group would keep the pipes open; exec is for programs that finish.
        let _ = killpg(group, Signal::SIGKILL);
        let output = Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        };
        let run = || {
            Box::new(CommandRun {
                node: self.node.to_owned(),
                netns: self.netns_label().to_owned(),
                command: display(argv),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        };
        if timed_out {
            return Err(LabError::Timeout {
                run: run(),
                timeout,
            });
        }
        if !output.status.success() {
            return Err(LabError::Exit {
                run: run(),
                status: output.status,
            });
        }
        Ok(output)
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

/// A command line as a human would type it.
pub(crate) fn display<S: AsRef<OsStr>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| {
            let a = a.as_ref().to_string_lossy();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_display_quoted() {
        assert_eq!(
            display(&["ping", "-c", "3", "198.18.1.2"]),
            "ping -c 3 198.18.1.2"
        );
        assert_eq!(
            display(&["sh", "-c", "echo 'hi' there"]),
            r"sh -c 'echo '\''hi'\'' there'"
        );
    }

    #[test]
    fn root_commands_report_failures_with_their_output() {
        let root = Place {
            node: "root",
            netns: None,
            prefix: "sdnt000000",
        };
        let out = root
            .run(
                &["sh", "-c", "echo -n $SDN_LAB_PREFIX"],
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(out.stdout, b"sdnt000000");
        let err = root
            .run(
                &["sh", "-c", "echo oops >&2; exit 3"],
                Duration::from_secs(5),
            )
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("exited with exit status: 3"), "{message}");
        assert!(message.contains("oops"), "{message}");
        let err = root
            .run(&["sleep", "5"], Duration::from_millis(100))
            .unwrap_err();
        assert!(matches!(err, LabError::Timeout { .. }), "{err}");
        let err = root
            .run(&["/nonexistent/program"], Duration::from_secs(1))
            .unwrap_err();
        assert!(matches!(err, LabError::Spawn { .. }), "{err}");
    }
}
