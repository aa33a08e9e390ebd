// Package wire holds the types that cross the network between the hub, its
// agents and its operators, the canonical encoding that objects and
// manifests are hashed and signed over, and the history of protocol changes.
//
// It imports nothing else from Flotilla: both sides of every connection
// depend on it, so it must stay a leaf.
package wire

// ProtocolVersion is the version of the agent protocol this build speaks.
// Agents send it in the Flotilla-Protocol header; the hub refuses versions
// it does not know.
//
// History:
//
//	1: enrollment, long-poll manifest, objects by hash, status (2026-11).
const ProtocolVersion = 1

// ProtocolHeader carries ProtocolVersion on every agent request.
const ProtocolHeader = "Flotilla-Protocol"
