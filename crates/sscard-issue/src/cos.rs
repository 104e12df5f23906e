//! Placeholder module: being written (issue 7).
