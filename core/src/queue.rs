//! Bounded MPMC rings (locked and lock-free) and ordered parallel crypto.
