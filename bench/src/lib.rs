//! Benchmarks and the load generator for ssehub (see `benches/` and `docs/benchmarks.md`).
