//! DNS: the records a user must publish ([`records`]: pure planning, zone-file export) and the
//! live checks of them against the zone's authoritative servers ([`check`]).

pub mod blocklists;
pub mod check;
pub mod records;
pub mod report;
