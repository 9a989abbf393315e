//! Locks, blacklists and disabled commands.
