//! Dataplane fixtures: run a program through BPF_PROG_TEST_RUN on a crafted frame and check what it
//! did — verdict, output bytes, and effects on its maps.
//!
//! A fixture is a row in a table. A [`Suite`] says which object the rows run against and what its
//! map setup and expected effects mean; the rows are plain data, so adding one is a few lines:
//!
//! ```ignore
//! Fixture::new("ipv4 over vlan is counted as ipv4", names::METER_RX, frame)
//!     .setup(Ports::registered())
//!     .verdict(Verdict::XdpPass)
//!     .effects(Counted::class(SDN_CLASS_IPV4, 1, 64)),
//! ```
//!
//! Every row runs against a freshly loaded object (no state leaks between rows); [`run_all`] runs
//! every row, then fails once listing every row that did not hold.
//!
//! Limits of BPF_PROG_TEST_RUN that shape the rows (kernel `net/bpf/test_run.c`):
//! - the test runs in the caller's network namespace with its loopback device: `ifindex` and
//!   `ingress_ifindex` are [`TEST_IFINDEX`] (1);
//! - the kernel never runs XDP or TC programs on a frame shorter than an Ethernet header (test
//!   runs refuse it with EINVAL, as `bpf_xdp_adjust_head/tail` refuse to shrink below it). Such a
//!   row expects [`Verdict::Refused`]: the program is not run, so its maps must be untouched. The
//!   programs still bounds-check every header (the verifier demands it);
//! - skb test runs also refuse frames whose IPv4 or IPv6 header is cut short (the kernel reads it
//!   to build the skb); those TC rows expect [`Verdict::Refused`] too, and the same frames are
//!   covered on the XDP side.

use aya::Ebpf;
use aya::programs::{Program, TestRun, TestRunOptions};

use crate::object::Object;

/// The ifindex programs see under BPF_PROG_TEST_RUN: the namespace's loopback device.
pub const TEST_IFINDEX: u32 = 1;

/// The code [`run_once`] reports when the kernel refuses the input (not a real return code).
const REFUSED: i32 = i32::MIN;

/// A program's return code, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// XDP_ABORTED.
    XdpAborted,
    /// XDP_DROP.
    XdpDrop,
    /// XDP_PASS.
    XdpPass,
    /// XDP_TX.
    XdpTx,
    /// XDP_REDIRECT.
    XdpRedirect,
    /// TC_ACT_UNSPEC, which TCX calls TCX_NEXT: the next program decides.
    TcNext,
    /// TC_ACT_OK.
    TcOk,
    /// TC_ACT_SHOT.
    TcShot,
    /// TC_ACT_REDIRECT.
    TcRedirect,
    /// The kernel refuses to run the program on this frame (EINVAL): it can never reach it.
    Refused,
}

impl Verdict {
    /// The return code as the kernel reports it.
    pub fn code(self) -> i32 {
        match self {
            Verdict::XdpAborted => 0,
            Verdict::XdpDrop => 1,
            Verdict::XdpPass => 2,
            Verdict::XdpTx => 3,
            Verdict::XdpRedirect => 4,
            Verdict::TcNext => -1,
            Verdict::TcOk => 0,
            Verdict::TcShot => 2,
            Verdict::TcRedirect => 7,
            Verdict::Refused => REFUSED,
        }
    }
}

/// What the frame must look like after the program ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Byte for byte the input frame.
    Unchanged,
    /// Exactly these bytes.
    Bytes(Vec<u8>),
    /// Not checked (for example, a dropped frame).
    Any,
}

/// What the rows of one table mean: which object they run against, how a row's map setup is
/// written into its maps, and how its expected effects are checked.
pub trait Suite {
    /// Map contents a row starts from (plain data).
    type Setup: std::fmt::Debug + Default;
    /// What the row expects the maps to hold afterwards (plain data).
    type Effects: std::fmt::Debug + Default;

    /// The object every row runs against.
    fn object(&self) -> Object;

    /// Smaller capacities for maps whose production size would make every row's fresh load slow
    /// (an LRU conntrack table is preallocated). The programs' logic does not depend on them.
    fn max_entries(&self) -> Vec<(&'static str, u32)> {
        Vec::new()
    }

    /// The programs a row runs (its own, and any its setup runs); only those are loaded.
    fn programs_for(&self, row: &Fixture<Self>) -> Vec<&'static str>
    where
        Self: Sized,
    {
        vec![row.program]
    }

    /// Writes `setup` into the freshly loaded object's maps.
    fn setup(&self, ebpf: &mut Ebpf, setup: &Self::Setup) -> Result<(), String>;

    /// Checks `effects` against the maps after the run; `Err` says what differs. (Mutable
    /// because reading a ring buffer consumes it.)
    fn check(&self, ebpf: &mut Ebpf, effects: &Self::Effects) -> Result<(), String>;
}

/// One row: name, program, map setup, input frame, expected verdict, output and map effects.
#[derive(Debug)]
pub struct Fixture<S: Suite> {
    /// What the row shows, in words.
    pub name: String,
    /// The program's name in the object (`sdn_...`).
    pub program: &'static str,
    /// Map contents before the run.
    pub setup: S::Setup,
    /// The input frame.
    pub packet: Vec<u8>,
    /// Expected return code.
    pub verdict: Verdict,
    /// Expected output frame.
    pub output: Output,
    /// Expected map contents after the run.
    pub effects: S::Effects,
}

impl<S: Suite> Fixture<S> {
    /// A row expecting XDP_PASS, the frame unchanged, default setup and effects.
    pub fn new(name: impl Into<String>, program: &'static str, packet: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            program,
            setup: S::Setup::default(),
            packet,
            verdict: Verdict::XdpPass,
            output: Output::Unchanged,
            effects: S::Effects::default(),
        }
    }

    /// Sets the map setup.
    pub fn setup(mut self, setup: S::Setup) -> Self {
        self.setup = setup;
        self
    }

    /// Sets the expected verdict.
    pub fn verdict(mut self, verdict: Verdict) -> Self {
        self.verdict = verdict;
        self
    }

    /// Sets the expected output frame.
    pub fn output(mut self, output: Output) -> Self {
        self.output = output;
        self
    }

    /// Sets the expected map effects.
    pub fn effects(mut self, effects: S::Effects) -> Self {
        self.effects = effects;
        self
    }
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// The program's return code.
    pub code: i32,
    /// The frame after the run.
    pub output: Vec<u8>,
}

/// Runs `program` of a loaded object once on `frame` through BPF_PROG_TEST_RUN.
pub fn run_once(ebpf: &Ebpf, program: &str, frame: &[u8]) -> Result<RunResult, String> {
    let prog = ebpf
        .program(program)
        .ok_or_else(|| format!("the object has no program {program}"))?;
    let mut out = vec![0u8; 4096];
    match prog {
        Program::Xdp(xdp) => {
            let opts = TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                ..TestRunOptions::default()
            };
            finish(xdp.test_run(opts), program, out)
        }
        Program::SchedClassifier(tc) => {
            let opts = TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                ..TestRunOptions::default()
            };
            finish(tc.test_run(opts), program, out)
        }
        other => Err(format!("{program} is a {other:?}, not XDP or TC")),
    }
}

fn finish(
    run: Result<aya::programs::TestRunResult, aya::programs::ProgramError>,
    program: &str,
    mut out: Vec<u8>,
) -> Result<RunResult, String> {
    match run {
        Ok(r) => {
            out.truncate(r.data_size_out as usize);
            Ok(RunResult {
                code: r.return_value as i32,
                output: out,
            })
        }
        Err(aya::programs::ProgramError::SyscallError(e))
            if e.io_error.raw_os_error() == Some(libc::EINVAL) =>
        {
            Ok(RunResult {
                code: REFUSED,
                output: Vec::new(),
            })
        }
        Err(e) => Err(format!("test run of {program}: {e:?}")),
    }
}

/// Runs one row against a fresh load of the suite's object; `Err` says what did not hold.
pub fn run<S: Suite>(suite: &S, row: &Fixture<S>) -> Result<(), String> {
    let object = suite.object();
    let mut loader = aya::EbpfLoader::new();
    for (map, size) in suite.max_entries() {
        loader.map_max_entries(map, size);
    }
    let mut ebpf = loader
        .load(object.bytes)
        .map_err(|e| format!("load {}: {e}", object.name))?;
    // Only the programs this row runs are loaded: verification is most of a load's cost.
    let wanted = suite.programs_for(row);
    for (name, program) in ebpf.programs_mut() {
        if !wanted.contains(&name) {
            continue;
        }
        let loaded = match program {
            Program::Xdp(p) => p.load(),
            Program::SchedClassifier(p) => p.load(),
            _ => continue,
        };
        loaded.map_err(|e| format!("load program {name}: {e}"))?;
    }
    suite.setup(&mut ebpf, &row.setup)?;
    let result = run_once(&ebpf, row.program, &row.packet)?;
    let mut problems = Vec::new();
    if result.code != row.verdict.code() {
        problems.push(format!(
            "verdict {} expected {:?} ({})",
            result.code,
            row.verdict,
            row.verdict.code()
        ));
    }
    let expected = match &row.output {
        _ if row.verdict == Verdict::Refused => None,
        Output::Unchanged => Some(&row.packet),
        Output::Bytes(bytes) => Some(bytes),
        Output::Any => None,
    };
    if let Some(expected) = expected
        && &result.output != expected
    {
        problems.push(format!(
            "output differs:\n  got      {}\n  expected {}",
            hex(&result.output),
            hex(expected)
        ));
    }
    if let Err(e) = suite.check(&mut ebpf, &row.effects) {
        problems.push(format!("map effects: {e}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Runs every row; panics once at the end listing every failed row. Returns how many ran.
pub fn run_all<S: Suite>(suite: &S, rows: &[Fixture<S>]) -> usize {
    let mut failed = Vec::new();
    for row in rows {
        if let Err(e) = run(suite, row) {
            failed.push(format!("[{}] {e}", row.name));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failed.len(),
        rows.len(),
        failed.join("\n")
    );
    // `cargo xtask test` counts fixture rows from this line.
    println!("fixtures: {} rows passed", rows.len());
    rows.len()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
