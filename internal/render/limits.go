package render

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults of Limits, sized for a hub with 2 GB of memory: a bundle of
// 5,000 objects is far past what an edge cluster runs, and 32 MiB of
// objects is what the hub may then hold for one render.
const (
	DefaultMaxObjects = 5000
	DefaultMaxBytes   = 32 << 20
	DefaultTimeout    = 30 * time.Second
)

// The hub flags that raise each limit, named in refusals so that an
// operator reading a bundle's error knows what to change.
const (
	FlagMaxObjects    = "--max-bundle-objects"
	FlagMaxBytes      = "--max-bundle-bytes"
	FlagRenderTimeout = "--render-timeout"
)

// Limits bound what one render of one bundle may cost. A zero field
// means its default; a negative one, no limit.
type Limits struct {
	// MaxObjects bounds the objects a bundle renders.
	MaxObjects int `json:"maxObjects,omitempty"`
	// MaxBytes bounds both the rendered objects (their JSON) and the
	// manifest files a raw bundle reads; a file past it is refused
	// before it is read.
	MaxBytes int64 `json:"maxBytes,omitempty"`
	// Timeout bounds the time of one render. RenderEffective does not
	// apply it: a Renderer does (see InProcess and renderworker).
	Timeout time.Duration `json:"timeout,omitempty"`
}

// WithDefaults fills the zero fields with their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxObjects == 0 {
		l.MaxObjects = DefaultMaxObjects
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}

// TimeoutError is the refusal of a render that ran past l.Timeout.
func (l Limits) TimeoutError() *LimitError {
	return &LimitError{What: fmt.Sprintf("bundle took longer than %s to render", l.WithDefaults().Timeout), Flag: FlagRenderTimeout}
}

// LimitError is a render refused for passing a limit. Its fields are
// plain so that it crosses a process boundary unchanged.
type LimitError struct {
	// What went past the limit, e.g. "bundle renders more than 5000 objects".
	What string `json:"what"`
	// Flag is the hub flag that raises the limit.
	Flag string `json:"flag"`
}

func (e *LimitError) Error() string { return e.What + " (limit: " + e.Flag + ")" }

// budget counts what one render has used against its limits; a nil
// budget counts nothing (each file is still bounded by maxFileBytes when
// it is read).
type budget struct {
	lim     Limits // with defaults
	objects int
	bytes   int64 // JSON of the objects rendered so far
	read    int64 // manifest files read so far
}

func newBudget(l Limits) *budget { return &budget{lim: l.WithDefaults()} }

// object counts one more object, before it is built.
func (b *budget) object() error {
	if b == nil {
		return nil
	}
	b.objects++
	return b.checkObjects(b.objects)
}

// expect refuses at once a build that has n objects in all, so that none
// of them is converted in vain.
func (b *budget) expect(n int) error {
	if b == nil {
		return nil
	}
	return b.checkObjects(b.objects + n)
}

func (b *budget) checkObjects(n int) error {
	if b.lim.MaxObjects > 0 && n > b.lim.MaxObjects {
		return &LimitError{What: fmt.Sprintf("bundle renders more than %d objects", b.lim.MaxObjects), Flag: FlagMaxObjects}
	}
	return nil
}

// objectBytes counts the JSON size of an object just built.
func (b *budget) objectBytes(n int) error {
	if b == nil {
		return nil
	}
	b.bytes += int64(n)
	if b.lim.MaxBytes > 0 && b.bytes > b.lim.MaxBytes {
		return &LimitError{What: fmt.Sprintf("bundle renders more than %s of objects", resource.NewQuantity(b.lim.MaxBytes, resource.BinarySI)), Flag: FlagMaxBytes}
	}
	return nil
}

// file counts a manifest file of size bytes before it is read.
func (b *budget) file(size int64) error {
	if b == nil {
		return nil
	}
	b.read += size
	if b.lim.MaxBytes > 0 && b.read > b.lim.MaxBytes {
		return &LimitError{What: fmt.Sprintf("bundle manifest files hold more than %s", resource.NewQuantity(b.lim.MaxBytes, resource.BinarySI)), Flag: FlagMaxBytes}
	}
	return nil
}
