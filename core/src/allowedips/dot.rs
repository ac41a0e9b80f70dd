//! Graphviz dump of both tries, addresses in human byte order.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::key::Key;
use super::table::Inner;
use super::trie::{Trie, NONE};
use super::PeerHandle;

impl<T, K4, K6> Inner<T, K4, K6>
where
    T: PeerHandle,
    K4: Key<Addr = Ipv4Addr, Bytes = [u8; 4]>,
    K6: Key<Addr = Ipv6Addr, Bytes = [u8; 16]>,
{
    /// One `digraph` with a node line per trie node and an edge line per child link.
    /// Nodes holding a prefix are labelled with their peer slot; branching nodes are dashed.
    pub(crate) fn to_dot(&self) -> String {
        let mut out = String::from("digraph allowedips {\n\tnode [shape=box];\n");
        dump(&mut out, "v4", &self.v4);
        dump(&mut out, "v6", &self.v6);
        out.push_str("}\n");
        out
    }
}

fn dump<K: Key>(out: &mut String, family: &str, trie: &Trie<K>) {
    for (index, node) in trie.walk() {
        let addr: std::net::IpAddr = node.key.to_addr().into();
        // Writing into a String cannot fail.
        let _ = if node.peer() == NONE {
            writeln!(out, "\t{family}_{index} [label=\"{addr}/{}\", style=dashed];", node.cidr())
        } else {
            writeln!(
                out,
                "\t{family}_{index} [label=\"{addr}/{}\\npeer {}\"];",
                node.cidr(),
                node.peer()
            )
        };
        for (bit, child) in node.children().iter().enumerate() {
            if let Some(child) = child {
                let _ = writeln!(out, "\t{family}_{index} -> {family}_{child} [label=\"{bit}\"];");
            }
        }
    }
}
