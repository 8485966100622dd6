//! The alert email: what opened and cleared at a customer's sites, from the notices the monitor
//! (`heliograph_shared::alerts`) leaves in the store.

pub mod email;
