//! Support for Outpost's whole-system tests: the internet in a box ([`inbox`]).

pub mod inbox;
