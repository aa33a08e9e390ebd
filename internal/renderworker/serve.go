package renderworker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"flotilla.io/flotilla/internal/bundle"
	"flotilla.io/flotilla/internal/render"
)

// ServeOptions tune Serve.
type ServeOptions struct {
	// Logger receives the renders' messages; the worker's stderr, which
	// the pool forwards at debug level. Nil discards them.
	Logger *slog.Logger
}

// Serve is a worker: it answers the pool's hello, sets its memory limit,
// then renders one request at a time from in and answers on out until in
// ends. Nothing else may write to out.
func Serve(ctx context.Context, in io.Reader, out io.Writer, opts ServeOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriterSize(out, 64<<10)
	ropts, err := handshake(r, w)
	if err != nil {
		return err
	}
	ropts.Logger = log
	for {
		data, err := readFrame(r, maxRequestFrame)
		if errors.Is(err, io.EOF) {
			return nil // the pool closed our input: time to go
		}
		if err != nil {
			return fmt.Errorf("reading request: %w", err)
		}
		resp := serveOne(ctx, data, ropts)
		if err := send(w, resp); err != nil {
			return err
		}
	}
}

// handshake reads hello, applies it and answers ready.
func handshake(r io.Reader, w *bufio.Writer) (render.Options, error) {
	data, err := readFrame(r, maxRequestFrame)
	if err != nil {
		return render.Options{}, fmt.Errorf("reading hello: %w", err)
	}
	var h hello
	var ropts render.Options
	ans := ready{Ready: true, Version: protocolVersion}
	switch {
	case json.Unmarshal(data, &h) != nil:
		ans.Err = "hello is not JSON"
	case h.Version != protocolVersion:
		ans.Err = fmt.Sprintf("protocol version %d, this worker speaks %d", h.Version, protocolVersion)
	default:
		if err := json.Unmarshal(h.Options, &ropts); err != nil {
			ans.Err = fmt.Sprintf("decoding render options: %v", err)
		} else if err := setMemoryLimit(h.MemoryLimit); err != nil {
			ans.Err = err.Error()
		}
	}
	if err := send(w, ans); err != nil {
		return render.Options{}, err
	}
	if ans.Err != "" {
		return render.Options{}, errors.New(ans.Err)
	}
	return ropts, nil
}

func serveOne(ctx context.Context, data []byte, opts render.Options) response {
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		return response{Err: toWire(fmt.Errorf("decoding render request: %w", err))}
	}
	values, err := decodeValues(req.Values)
	if err != nil {
		return response{Err: toWire(err)}
	}
	req.Effective.Values = values
	objs, err := render.RenderEffective(ctx, req.Root, bundle.Bundle{Path: req.Path}, req.Effective, opts)
	if err != nil {
		return response{Err: toWire(err)}
	}
	resp := response{Objects: make([]json.RawMessage, len(objs))}
	for i, o := range objs {
		if resp.Objects[i], err = json.Marshal(o.Object); err != nil {
			return response{Err: toWire(fmt.Errorf("encoding %s %s: %w", o.GetKind(), o.GetName(), err))}
		}
	}
	return resp
}

func send(w *bufio.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding answer: %w", err)
	}
	if err := writeFrame(w, data); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing answer: %w", err)
	}
	return nil
}
