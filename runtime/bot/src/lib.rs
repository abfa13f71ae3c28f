//! The customer agent.
