//! The whitepaper timers as a pure state machine of events and `now`.
