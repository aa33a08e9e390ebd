package renderworker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"flotilla.io/flotilla/internal/render"
)

// protocolVersion names the messages below; the hub and its workers are
// one binary, so a mismatch means a worker from another build.
//
//	1: hello/ready, then request/response, one render at a time.
const protocolVersion = 1

// maxRequestFrame bounds what a worker reads in one frame: a request
// holds a bundle's options and Helm values, far less.
const maxRequestFrame = 256 << 20

// A frame is a 4-byte big-endian length and that many bytes of JSON.
const frameHeader = 4

// readFrame reads one frame, refusing one longer than max before reading
// its body. A clean end of input before a frame is io.EOF.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("reading frame header: %w", err)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("frame of %d bytes, more than the %d allowed", n, max)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading frame: %w", err)
	}
	return data, nil
}

// writeFrame writes data as one frame.
func writeFrame(w io.Writer, data []byte) error {
	if uint64(len(data)) > 1<<32-1 {
		return fmt.Errorf("frame of %d bytes is too long", len(data))
	}
	var h [frameHeader]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(data)))
	if _, err := w.Write(h[:]); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("writing frame: %w", err)
	}
	return nil
}

// hello is the pool's first message to a new worker.
type hello struct {
	Version int `json:"version"`
	// MemoryLimit is what the worker may add to its address space; the
	// worker sets it on itself (see setMemoryLimit). Zero means none.
	MemoryLimit int64 `json:"memoryLimit,omitempty"`
	// Options are the render.Options of every render, without
	// HTTPClient and Logger (see encodeOptions).
	Options json.RawMessage `json:"options"`
}

// ready answers hello. Ready is true, so that a program that echoes its
// input is not taken for a worker.
type ready struct {
	Ready   bool   `json:"ready"`
	Version int    `json:"version"`
	Err     string `json:"err,omitempty"`
}

// request is one render. RenderEffective reads only Path and Err of the
// bundle (Exclude comes from the Effective), and Err is answered by the
// pool without a worker, so only Path crosses.
type request struct {
	Root string `json:"root"`
	Path string `json:"path"`
	// Effective is sent without Values: JSON would turn Helm values'
	// integer-valued floats into integers, which Helm prints differently.
	Effective render.Effective `json:"effective"`
	// Values are Effective.Values with their Go types (see encodeValues).
	Values json.RawMessage `json:"values,omitempty"`
}

// response answers a request: the objects, or the error.
type response struct {
	// Objects are JSON objects; rendered objects are fixed points of a
	// JSON round trip (see render's canonical), so they decode equal.
	Objects []json.RawMessage `json:"objects,omitempty"`
	Err     *wireError        `json:"err,omitempty"`
}
