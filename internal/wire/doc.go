// Package wire holds the types that cross the network between the hub, its
// agents and its operators, the canonical encoding that objects and
// manifests are hashed and signed over, and the history of protocol changes.
//
// It imports nothing else from Flotilla: both sides of every connection
// depend on it, so it must stay a leaf.
package wire

// ProtocolVersion is the version of the agent protocol this build speaks.
// Agents send it in the Flotilla-Protocol header; the hub refuses versions
// it does not know (SupportedProtocol). Every change is additive: a hub
// serves agents of every version from MinProtocolVersion on.
//
// History:
//
//	1: enrollment, long-poll manifest, objects by hash, status (2026-11).
//	2: agent releases (2026-12): the manifest envelope may name the agent
//	   release the cluster should run (Envelope.Agent, signed twice: by the
//	   envelope and by its own release signature); GET
//	   /v1/agent/release?digest=D&from=F downloads it, whole (gzip) or as
//	   a delta from the binary F the agent runs; facts carry the agent's
//	   version and architecture (Facts.Agent) and reports the outcome of
//	   its last update (StatusReport.AgentUpdate). Version 1 agents ignore
//	   all of it and are served as before.
const ProtocolVersion = 2

// MinProtocolVersion is the oldest agent protocol the hub still serves.
const MinProtocolVersion = 1

// SupportedProtocol reports whether a hub of this build serves agents that
// speak version v.
func SupportedProtocol(v int) bool {
	return v >= MinProtocolVersion && v <= ProtocolVersion
}

// ProtocolHeader carries ProtocolVersion on every agent request.
const ProtocolHeader = "Flotilla-Protocol"
