//! The SIP protocol core.
