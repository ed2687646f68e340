// Package shopwatch holds the domain types that every part of shopwatch
// shares: targets inspectors queue, visits the sweep leases, pages the
// crawler fetches, findings the rules raise and the evidence records that
// preserve them.
//
// The package does no I/O. Adapters (crawler, evidence stores, db) and the
// rules engine depend on these types, never on each other's internals.
package shopwatch
