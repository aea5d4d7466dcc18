//! Errors of the `nlb` crate.

/// Everything that can go wrong in this crate. Messages are lower-case and say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No backend has a weight above zero, so the Maglev table would have no one to point at.
    #[error(
        "no backend with weight > 0 among {backends} backend(s); give at least one backend a \
         non-zero weight (weight 0 means draining)"
    )]
    NoActiveBackend {
        /// How many backends were given (all of them with weight 0, or none at all).
        backends: usize,
    },
    /// The Maglev table size is not a prime number.
    #[error(
        "maglev table size {size} is not prime; pick one with `nlb::maglev::table_size_for` \
         (default {default})",
        default = crate::maglev::DEFAULT_TABLE_SIZE
    )]
    TableSizeNotPrime {
        /// The size that was asked for.
        size: u32,
    },
    /// The table is too small for the number of backends (fewer than
    /// [`MIN_SLOTS_PER_BACKEND`](crate::maglev::MIN_SLOTS_PER_BACKEND) slots per backend).
    #[error(
        "maglev table size {size} is too small for {backends} backends (needs at least {needed}); \
         use `nlb::maglev::table_size_for({backends})`"
    )]
    TooManyBackends {
        /// How many backends were given (draining ones included).
        backends: usize,
        /// The table size that was asked for.
        size: u32,
        /// The smallest table size the backend count allows.
        needed: u64,
    },
    /// No table size in [`TABLE_SIZES`](crate::maglev::TABLE_SIZES) is large enough.
    #[error(
        "{backends} backends need a maglev table of at least {needed} slots, more than the largest \
         supported size {largest}; split the service"
    )]
    NoTableSizeLargeEnough {
        /// How many backends were given.
        backends: usize,
        /// The smallest table size the backend count allows.
        needed: u64,
        /// The largest supported table size.
        largest: u32,
    },
    /// The same backend id appears twice.
    #[error("backend id {id:#034x} appears more than once; give each backend once")]
    DuplicateBackend {
        /// The repeated id.
        id: u128,
    },
    /// Two tables of different sizes cannot be compared slot by slot.
    #[error(
        "cannot compare maglev tables of sizes {old} and {new} slot by slot: every flow is rehashed \
         when the size changes"
    )]
    TableSizeMismatch {
        /// Size of the old table.
        old: u32,
        /// Size of the new table.
        new: u32,
    },
    /// A health check's timing or thresholds make no sense.
    #[error("invalid health check: {why}")]
    InvalidHealthCheck {
        /// What is wrong, and so what to change.
        why: &'static str,
    },
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
