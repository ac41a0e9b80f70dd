//! The shared plan table → the IP Helper operations the Windows applier performs, and
//! the undo record (newest first, exactly what was done).

use super::*;
use ferrowg_core::config::WgQuickConfig;

const KEY: &str = "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=";
const PEER: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";

fn ops(interface: &str, allowed: &str) -> Vec<WinOp> {
    let text = format!(
        "[Interface]\nPrivateKey = {KEY}\n{interface}\n[Peer]\nPublicKey = {PEER}\n\
         AllowedIPs = {allowed}\nEndpoint = 198.18.0.1:51820\n"
    );
    operations(&NetworkPlan::from_config(&WgQuickConfig::parse(&text).unwrap()))
}

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/plans/table.rs"));

/// One line per operation, in order.
fn win_lines(ops: &[WinOp]) -> String {
    let lines: Vec<String> = ops
        .iter()
        .map(|op| match op {
            WinOp::Interface { family, mtu, metric } => {
                let metric = metric.map_or("automatic".to_owned(), |m| m.to_string());
                format!("interface {} mtu {mtu} metric {metric}", family.word())
            }
            WinOp::Address { addr, prefix_len } => format!("address {addr}/{prefix_len}"),
            WinOp::Dns { family, servers, search } => {
                format!("dns {} servers '{servers}' search '{search}'", family.word())
            }
            WinOp::Route(r) => format!(
                "route {}/{} next-hop {} metric {} protocol {}",
                r.prefix, r.prefix_len, r.next_hop, r.metric, r.protocol
            ),
        })
        .collect();
    lines.join("\n") + "\n"
}

/// The shared plan table (tests/plans) → the IP Helper operations, checked against
/// what wireguard-windows does for the same files (see tests/plans/README.md).
#[test]
fn plan_table_windows_operations() {
    check_table("windows", |stem, text| {
        let config = WgQuickConfig::parse(text).unwrap_or_else(|e| panic!("{stem}.conf: {e}"));
        win_lines(&operations(&NetworkPlan::from_config(&config)))
    });
}

/// Records what it was asked; fails at operation `fail_at` (0-based).
#[derive(Debug, Default)]
struct Fake {
    fail_at: Option<usize>,
    calls: usize,
    log: Vec<String>,
    fail_revert: bool,
}

impl WinExecutor for Fake {
    type Undo = usize;
    fn execute(&mut self, op: &WinOp) -> Result<Option<usize>, String> {
        let n = self.calls;
        self.calls += 1;
        if self.fail_at == Some(n) {
            self.log.push(format!("fail {n}"));
            return Err(format!("op {n} failed"));
        }
        self.log.push(format!("do {n}"));
        // A route that already exists: nothing recorded.
        Ok(if matches!(op, WinOp::Route(r) if r.prefix_len == 16) { None } else { Some(n) })
    }
    fn revert(&mut self, undo: &usize) -> Result<(), String> {
        self.log.push(format!("undo {undo}"));
        if self.fail_revert {
            return Err(format!("undo {undo} failed"));
        }
        Ok(())
    }
}

#[test]
fn a_failure_undoes_everything_done_newest_first() {
    let plan = ops("Address = 198.19.0.2/32", "198.19.0.0/24, 10.9.0.0/16, 10.9.8.7/32");
    // Ops: 0 interface, 1 address, 2 /32, 3 /24, 4 /16 (exists). Fail at the /16.
    let e = apply_ops(Fake { fail_at: Some(4), ..Fake::default() }, &plan).unwrap_err();
    assert_eq!(e, "op 4 failed");
    let mut fake = Fake { fail_at: Some(3), ..Fake::default() };
    let err = apply_ops(std::mem::take(&mut fake), &plan).unwrap_err();
    assert_eq!(err, "op 3 failed");
    // Undo errors are reported with the original one.
    let e = apply_ops(Fake { fail_at: Some(2), fail_revert: true, ..Fake::default() }, &plan)
        .unwrap_err();
    assert_eq!(e, "op 2 failed (and while undoing: undo 1 failed; undo 0 failed)");
}

#[test]
fn undo_reverts_exactly_what_was_recorded_newest_first_once() {
    let plan = ops("Address = 198.19.0.2/32", "198.19.0.0/24, 10.9.0.0/16, 10.9.8.7/32");
    let mut applied = apply_ops(Fake::default(), &plan).unwrap();
    assert_eq!(applied.recorded(), 4, "the existing /16 route is not recorded");
    assert!(applied.undo().is_empty());
    assert_eq!(
        applied.executor().log,
        ["do 0", "do 1", "do 2", "do 3", "do 4", "undo 3", "undo 2", "undo 1", "undo 0"]
    );
    assert_eq!(applied.recorded(), 0);
    assert!(applied.undo().is_empty(), "a second undo does nothing");
}

#[test]
fn the_error_path_log_shows_newest_first_undo() {
    let plan = ops("Address = 198.19.0.2/32", "198.19.0.0/24");
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<String>>>, usize);
    impl WinExecutor for Shared {
        type Undo = usize;
        fn execute(&mut self, _: &WinOp) -> Result<Option<usize>, String> {
            self.1 += 1;
            if self.1 == 3 {
                return Err("boom".into());
            }
            self.0.borrow_mut().push(format!("do {}", self.1));
            Ok(Some(self.1))
        }
        fn revert(&mut self, u: &usize) -> Result<(), String> {
            self.0.borrow_mut().push(format!("undo {u}"));
            Ok(())
        }
    }
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    assert!(apply_ops(Shared(log.clone(), 0), &plan).is_err());
    assert_eq!(*log.borrow(), ["do 1", "do 2", "undo 2", "undo 1"]);
    // Dropping an applied plan undoes it too.
    log.borrow_mut().clear();
    let short = &plan[..2];
    drop(apply_ops(Shared(log.clone(), 0), short).unwrap());
    assert_eq!(*log.borrow(), ["do 1", "do 2", "undo 2", "undo 1"]);
}
