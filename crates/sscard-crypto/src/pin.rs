//! Placeholder: filled in by the sscard-crypto work of issue 3.
